"""`siaga simulate agents`: the command line of the simulator (both modes)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from siaga.wire import DEFAULT_PREFIX


def register(sub: Any) -> None:
    """Add `siaga simulate agents` to the command line."""
    p = sub.add_parser("simulate", help="simulate many agents publishing counts to a broker")
    ssub = p.add_subparsers(dest="simulate_what", metavar="WHAT", required=True)
    a = ssub.add_parser(
        "agents", help="many agents publishing count windows over MQTT",
        description="Default: a few shared connections publish for every agent (load tests, "
        "malformed payloads, duplicates). --per-agent: every agent its own connection and "
        "credentials, publishing only on its own topics (city-scale and ACL tests).",
    )  # fmt: skip
    a.add_argument("--count", type=int, default=100, help="number of agents")
    a.add_argument("--interval", type=float, default=None,
                   help="seconds between an agent's windows (default: 0 = as fast as possible; "
                   "--per-agent: 60)")  # fmt: skip
    a.add_argument("--windows", type=int, default=None, help="windows per agent (default 10; "
                   "--per-agent: 3)")  # fmt: skip
    a.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds of publishing instead of --windows (windows = duration/interval)",
    )
    a.add_argument("--window-s", type=int, default=60, help="length of a count window")
    a.add_argument("--host", default="127.0.0.1")
    a.add_argument("--port", type=int, default=1883)
    a.add_argument("--prefix", default=DEFAULT_PREFIX)
    a.add_argument("--seed", type=int, default=0)
    a.add_argument(
        "--keys-out",
        type=Path,
        default=None,
        help="write every (agent_id, seq) sent, as CSV: what central must store",
    )
    g = a.add_argument_group("shared connections (default mode)")
    g.add_argument("--duplicates", type=float, default=0.0, help="share published twice")
    g.add_argument("--skip", type=float, default=0.0, help="share of seqs never published")
    g.add_argument("--outage-agents", type=int, default=0)
    g.add_argument("--outage-s", type=float, default=None,
                   help="how long an outage lasts (default 0; --per-agent: 2)")  # fmt: skip
    g.add_argument("--malformed", type=int, default=0, help="malformed payloads to interleave")
    g.add_argument("--clients", type=int, default=1, help="MQTT connections to publish on")
    g.add_argument("--live", action="store_true", help="windows end at publish time")
    f = a.add_argument_group("one connection per agent (--per-agent)")
    f.add_argument("--per-agent", action="store_true",
                   help="every agent its own MQTT connection, username = agent id")  # fmt: skip
    f.add_argument("--credentials", type=Path, default=None,
                   help="file of 'agent_id:password' lines (default: no passwords, agent ids "
                   "sim-0000...)")  # fmt: skip
    f.add_argument("--backlog", type=int, default=0,
                   help="after the steady windows, all connections drop for --outage-s; each "
                   "agent then replays this many held windows in order (a burst)")  # fmt: skip
    f.add_argument("--ca-file", type=Path, default=None, help="TLS, verifying with this CA")
    f.add_argument("--connect-concurrency", type=int, default=200,
                   help="handshakes in progress at a time")  # fmt: skip
    f.add_argument("--keepalive", type=int, default=60, help="MQTT keepalive (s)")
    a.set_defaults(func=run_agents)


def _windows(args: argparse.Namespace, interval: float, default: int) -> int:
    if args.duration is not None:
        if interval <= 0:
            raise SystemExit("simulate: --duration needs --interval > 0")
        return max(1, round(args.duration / interval))
    return default if args.windows is None else args.windows


def _write_keys(path: Path | None, keys: set[tuple[str, int]]) -> None:
    if path is not None:
        path.write_text("agent_id,seq\n" + "".join(f"{a},{q}\n" for a, q in sorted(keys)))


def run_agents(args: argparse.Namespace) -> int:
    """Run the simulation and print a summary (progress every 2 s)."""
    if args.per_agent:
        return _run_fleet(args)
    from central.sim.agents import SimConfig, Simulation

    interval = 0.0 if args.interval is None else args.interval
    cfg = SimConfig(
        agents=args.count, windows=_windows(args, interval, 10), interval_s=interval,
        window_s=args.window_s, duplicates=args.duplicates, skip=args.skip,
        outage_agents=args.outage_agents, outage_s=args.outage_s or 0.0,
        malformed=args.malformed, host=args.host, port=args.port, prefix=args.prefix,
        seed=args.seed, clients=args.clients, live=args.live,
    )  # fmt: skip
    print(f"simulating {cfg.agents} agents x {cfg.windows} windows on "
          f"{cfg.host}:{cfg.port} ({cfg.prefix})", flush=True)  # fmt: skip
    try:
        res = Simulation(cfg, progress=lambda s: print(s, flush=True)).run()
    except (OSError, TimeoutError) as exc:
        print(f"simulate: {exc}", flush=True)
        return 1
    _write_keys(args.keys_out, res.keys)
    print(json.dumps(res.summary()), flush=True)
    return 0


def _run_fleet(args: argparse.Namespace) -> int:
    from central.sim.fleet import FleetConfig, FleetSimulation

    interval = 60.0 if args.interval is None else args.interval
    try:
        cfg = FleetConfig(
            agents=args.count, windows=_windows(args, interval, 3), interval_s=interval,
            window_s=args.window_s, backlog=args.backlog,
            outage_s=2.0 if args.outage_s is None else args.outage_s, host=args.host,
            port=args.port, prefix=args.prefix, credentials=args.credentials, seed=args.seed,
            ca_file=args.ca_file, keepalive_s=args.keepalive,
            connect_concurrency=args.connect_concurrency,
        )  # fmt: skip
        sim = FleetSimulation(cfg, progress=lambda s: print(s, flush=True))
    except (OSError, ValueError) as exc:
        print(f"simulate: {exc}", flush=True)
        return 2
    print(f"simulating {cfg.agents} agents, one connection each, {cfg.windows} windows every "
          f"{cfg.interval_s:g} s, backlog {cfg.backlog}, on {cfg.host}:{cfg.port}",
          flush=True)  # fmt: skip
    try:
        res = sim.run()
    except (OSError, TimeoutError, RuntimeError) as exc:
        print(f"simulate: {exc}", flush=True)
        return 1
    _write_keys(args.keys_out, res.keys)
    print(json.dumps(res.summary()), flush=True)
    return 0
