"""The demo's command, as `siaga` lists it (entry point `siaga.commands`): it needs the central
extra, so the declaration is kept apart from demo/run.py and imports nothing but the foundation."""

from __future__ import annotations

from siaga.cli import Group

DEMO = Group(
    "demo.run",
    "central",
    (("demo", "end-to-end demo: sample video → agent → local Mosquitto → central"),),
)
