"""The central role's command groups, as `siaga` lists them (entry points `siaga.commands`).

Light on purpose: it imports nothing of the `central` extra's dependencies, so that an edge box
without them still lists these commands in `siaga --help` and refuses them in one line naming the
extra (siaga/cli.py). Each group's own module is imported only where the extra is installed.
"""

from __future__ import annotations

from siaga.cli import Group

CENTRAL = Group(
    "central.cli", "central", (("central", "the central collector, summaries and HTTP API"),)
)
SIMULATE = Group(
    "central.sim.cli",
    "central",
    (("simulate", "simulate many agents publishing counts to a broker"),),
)
FLEET = Group("central.fleet.cli", "central",
              (("fleet", "provision, list and revoke edge boxes; broker config"),))  # fmt: skip
