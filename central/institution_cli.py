"""`siaga central institution add|revoke`: tokens for the HTTP API.

A civic writer gets `--module` (and `--owns`); a reader of the operator endpoints (a dashboard,
Prometheus, an operator's script) gets `--read`; one token may have both.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlalchemy.exc import IntegrityError


def register(csub: Any) -> None:
    """Add `siaga central institution …`."""
    from central.civic import MODULES
    from central.cli_config import config_args

    p = csub.add_parser("institution", help="issue or revoke an institution's input token")
    isub = p.add_subparsers(dest="institution_command", metavar="ACTION", required=True)
    add = isub.add_parser("add", help="register an institution; prints its token once")
    add.add_argument("institution_id")
    add.add_argument("--name", required=True)
    add.add_argument("--module", action="append", default=[], choices=sorted(MODULES),
                     help="a module it may write (repeatable)")  # fmt: skip
    add.add_argument("--read", action="store_true",
                     help="may read the operator endpoints: /agents, /cameras, /windows, /gaps, "
                     "/alerts, /metrics, camera summaries")  # fmt: skip
    add.add_argument("--owns", action="append", default=[], metavar="ID",
                     help="hospital/pharmacy/market id it may write rows for")  # fmt: skip
    rev = isub.add_parser("revoke", help="revoke an institution's token")
    rev.add_argument("institution_id")
    for a in (add, rev):
        config_args(a)
    add.set_defaults(func=add_cmd)
    rev.set_defaults(func=revoke_cmd)


def _engine(args: argparse.Namespace) -> Any:
    from central.cli_config import load, open_engine
    from central.store.migrations import migrate

    cfg = load(args)
    engine = None if cfg is None else open_engine(cfg)
    if engine is not None:
        migrate(engine)
    return engine


def add_cmd(args: argparse.Namespace) -> int:
    """Register an institution and print its token (stored only as a hash)."""
    from central.civic.institutions import add_institution

    if not args.module and not args.read:
        print("siaga central: institution add: give --module (civic input) and/or --read",
              file=sys.stderr)  # fmt: skip
        return 2
    engine = _engine(args)
    if engine is None:
        return 2
    try:
        token = add_institution(engine, args.institution_id, args.name, modules=args.module,
                                owner_ids=args.owns, reader=args.read)  # fmt: skip
    except IntegrityError:
        print(f"siaga central: institution {args.institution_id!r} already exists",
              file=sys.stderr)  # fmt: skip
        return 2
    print(token)
    print(f"token for {args.institution_id}: shown once, stored only as its sha256",
          file=sys.stderr)  # fmt: skip
    return 0


def revoke_cmd(args: argparse.Namespace) -> int:
    """Revoke a token; its holder gets 401 from then on."""
    from central.civic.institutions import revoke_institution

    engine = _engine(args)
    if engine is None:
        return 2
    if not revoke_institution(engine, args.institution_id):
        print(f"siaga central: no institution {args.institution_id!r}", file=sys.stderr)
        return 2
    print(f"revoked {args.institution_id}", file=sys.stderr)
    return 0
