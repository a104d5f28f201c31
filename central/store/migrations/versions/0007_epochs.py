"""Outbox epochs: counts keyed on (agent_id, epoch, seq), so that an agent whose outbox was
wiped or replaced (a new series from seq 1 under a new epoch) is stored, not dropped as
duplicates. Rows from before (and from agents without epochs) have epoch ''.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


@contextlib.contextmanager
def _new_key_warning_silenced() -> Iterator[None]:
    """SQLAlchemy warns that the rebuilt table's reflected key columns differ from the new key,
    then takes the new key, which is the point: that one warning is expected here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*specifies columns .* as primary_key=True",
                                category=sa.exc.SAWarning)  # fmt: skip
        yield


def upgrade() -> None:
    epoch = sa.Column("epoch", sa.String(32), nullable=False, server_default="")
    if op.get_bind().dialect.name == "postgresql":
        # In place: a city's counts table is large, and a rebuild would copy all of it.
        op.add_column("counts", epoch)
        op.drop_constraint("counts_pkey", "counts", type_="primary")
        op.create_primary_key("counts_pkey", "counts", ["agent_id", "epoch", "seq"])
        return
    # SQLite cannot change a primary key in place: batch mode rebuilds the table.
    with _new_key_warning_silenced(), op.batch_alter_table("counts", recreate="always") as t:
        t.add_column(epoch)
        t.create_primary_key("counts_pkey", ["agent_id", "epoch", "seq"])


def downgrade() -> None:
    # Refused while two epochs of one agent share a seq (the old key cannot hold both).
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("counts_pkey", "counts", type_="primary")
        op.create_primary_key("counts_pkey", "counts", ["agent_id", "seq"])
        op.drop_column("counts", "epoch")
        return
    with _new_key_warning_silenced(), op.batch_alter_table("counts", recreate="always") as t:
        t.drop_column("epoch")
        t.create_primary_key("counts_pkey", ["agent_id", "seq"])
