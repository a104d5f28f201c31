"""The sweep: for each tree, stream variant and motion-gate setting, N = 4, 8, 12, … cameras until
the agent cannot hold 95 % of detect_fps on every camera, then halves the gap to the last good N
(the sweep stops at its second failure). The bare model's rate is measured in the same run.
See benchmarks/cameras_per_box/__init__.py for what is measured and why."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from benchmarks.cameras_per_box.floor import model_run, run_floor
from benchmarks.cameras_per_box.report import floor_points, markdown, print_table, sizing
from benchmarks.cameras_per_box.step import StepSpec, run_step
from benchmarks.cameras_per_box.streams import Variant, make_variants
from tests.mqtt_broker import MosquittoBroker

REPO = Path(__file__).resolve().parents[2]
QUICK = {"counts": "2", "warmup_s": 3.0, "measure_s": 6.0, "variants": "360p25", "gates": "off"}


def bare_model(model: str, clip: Path, runs: int = 60) -> dict[str, float]:
    """`session.run` back to back on one prepared frame of the clip, one onnxruntime thread: the
    rate the model alone allows a core (as benchmarks.agent_throughput measures it)."""
    run = model_run(model, clip)
    for _ in range(3):
        run()
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(runs):
        run()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {"fps": runs / wall, "cpu_ms_per_frame": 1000 * cpu / runs, "runs": runs}


class Search:
    """N to try: the listed ones in order until one fails, then the midpoint between the largest
    good N and the smallest failed one while the gap is over 2; over at the second failure."""

    def __init__(self, listed: list[int]) -> None:
        self.queue, self.good, self.bad, self.failures = list(listed), 0, 0, 0

    def next_n(self) -> int | None:
        if self.failures >= 2:
            return None
        if not self.bad:
            return self.queue.pop(0) if self.queue else None
        return (self.good + self.bad) // 2 if self.bad - self.good > 2 else None

    def record(self, n: int, held: bool) -> None:
        if held:
            self.good = max(self.good, n)
        else:
            self.failures += 1
            self.bad = min(self.bad or n, n)


def sweep(base: StepSpec, listed: list[int], broker: MosquittoBroker, workdir: Path,
          deadline: float, rows: list[dict[str, Any]]) -> None:  # fmt: skip
    """Steps of one configuration, appended to rows as they finish (so Ctrl-C keeps them)."""
    search = Search(listed)
    while (n := search.next_n()) is not None:
        if time.monotonic() > deadline:
            rows.append({**_key(base), "n": n, "skipped": "time budget spent"})
            return
        spec = StepSpec(**{**base.__dict__, "n": n})
        try:
            row = run_step(spec, broker, workdir)
        except RuntimeError as exc:
            row = {**_key(base), "n": n, "held": False, "error": str(exc)[-2000:]}
        rows.append(row)
        _say(row)
        search.record(n, bool(row.get("held")))


def _key(spec: StepSpec) -> dict[str, Any]:
    return {"tree": spec.label, "variant": spec.variant.name, "gate": spec.gate}


def _say(row: dict[str, Any]) -> None:
    if "error" in row:
        print(f"  {row['tree']} {row['variant']} gate={row['gate']} N={row['n']}: ERROR "
              f"{row['error'].splitlines()[0]}", flush=True)  # fmt: skip
        return
    print(f"  {row['tree']} {row['variant']} gate={row['gate']} N={row['n']}: "
          f"{'held' if row['held'] else 'FAILED'}, detect fps min {row['detect_fps_min']:.2f}, "
          f"{row['cores_per_camera']:.3f} cores/camera, others {row['other_cores']:.2f} cores",
          flush=True)  # fmt: skip


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=sys.modules["benchmarks.cameras_per_box"].__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--tree", type=Path, default=REPO, help="source tree of the agent under test")
    p.add_argument("--compare", type=Path, help="a baseline tree, run in the same invocation "
                   "(e.g. git archive b3aaa38 | tar -x -C /tmp/siaga_before)")  # fmt: skip
    p.add_argument("--variants", default="720p25,360p25", help="<height>p<fps>, comma-separated")
    p.add_argument("--compare-variants", default="720p25", help="variants run for --compare")
    p.add_argument("--gates", default="off,on",
                   help="motion gate settings for --tree (…/rtsp variants: off only)")  # fmt: skip
    p.add_argument("--counts", default="4,8,12,16,24,32", help="N tried until a failure")
    p.add_argument("--detect-fps", type=float, default=5.0)
    p.add_argument("--warmup-s", type=float, default=10.0)
    p.add_argument("--measure-s", type=float, default=30.0)
    p.add_argument("--model", default="siaga_facemask_v1")
    p.add_argument(
        "--onnx-threads",
        type=int,
        default=None,
        help="[model] intra_op_threads (default: the agent's own default)",
    )
    p.add_argument(
        "--camera-toml",
        action="append",
        default=[],
        metavar="LINE",
        help="a line added to every camera of --tree (not of --compare)",
    )
    p.add_argument(
        "--no-floor",
        dest="floor",
        action="store_false",
        help="skip the floor, a minimal agent on the same streams (floor.py)",
    )
    p.add_argument("--budget-min", type=float, default=45.0, help="no new step after this")
    p.add_argument("--quick", action="store_true", help="a smoke run: " + json.dumps(QUICK))
    p.add_argument("--out", type=Path, default=Path("out/bench"))
    args = p.parse_args(argv)
    if args.quick:
        for k, v in QUICK.items():
            setattr(args, k, v)
        args.compare_variants = args.variants
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    shared = Path(os.environ.get("SIAGA_SHARED", REPO.parent / "shared"))
    signal.signal(signal.SIGTERM, _interrupt)
    listed = [int(x) for x in args.counts.split(",")]
    deadline = time.monotonic() + 60 * args.budget_min
    rows: list[dict[str, Any]] = []
    report: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()},
                              "machine_cores": os.cpu_count(), "rows": rows}  # fmt: skip
    names = list(dict.fromkeys(args.variants.split(",") + args.compare_variants.split(",")))
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="siaga-cpb-") as tmp, \
                MosquittoBroker(Path(tmp) / "broker", persistence=False) as broker:  # fmt: skip
            variants = {v.name: v for v in make_variants(shared, Path(tmp), names)}
            report["variants"] = {k: {"width": v.width, "height": v.height, "fps": v.fps}
                                  for k, v in variants.items()}  # fmt: skip
            report["bare_model_start"] = bare_model(args.model, next(iter(variants.values())).path)
            for spec in plan(args, variants):
                sweep(spec, listed, broker, Path(tmp), deadline, rows)
            if args.floor:
                floors(args, variants, rows, Path(tmp), deadline, report)
            report["bare_model_end"] = bare_model(args.model, next(iter(variants.values())).path)
    except KeyboardInterrupt:
        report["interrupted"] = True
        print("interrupted; the steps so far are kept", file=sys.stderr)
    report["sizing"] = sizing(rows, report.get("bare_model_start"), args.detect_fps,
                              report.get("floors", []))  # fmt: skip
    path = args.out / "cameras_per_box.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    path.with_suffix(".md").write_text(markdown(report))
    print_table(report)
    print(f"written {path}")
    return 1 if report.get("interrupted") else 0


def floors(args: argparse.Namespace, variants: dict[str, Variant], rows: list[dict[str, Any]],
           workdir: Path, deadline: float, report: dict[str, Any]) -> None:  # fmt: skip
    """The floor (a minimal agent, floor.py) at each largest N a configuration of the tree under
    test held, inferring as many frames a second as that configuration did (so every sizing
    entry is read against the floor at its own N and share of inferred frames)."""
    out: list[dict[str, Any]] = report.setdefault("floors", [])
    for name, n, infer_fps in floor_points(rows):
        if time.monotonic() > deadline:
            out.append({"variant": name, "n": n, "infer_fps_asked": infer_fps,
                        "skipped": "time budget spent"})  # fmt: skip
            continue
        row = run_floor(args.tree.resolve(), variants[name], n, detect_fps=args.detect_fps,
                        infer_fps=infer_fps, model=args.model, warmup_s=args.warmup_s,
                        measure_s=args.measure_s, workdir=workdir)  # fmt: skip
        out.append(row)
        if "error" in row:
            print(f"  floor {name} N={n}: ERROR {row['error'].splitlines()[0]}", flush=True)
        else:
            print(f"  floor {name} N={n} inferring {infer_fps:g}/s: "
                  f"{row['cores_per_camera']:.3f} cores/camera (decoding "
                  f"{row['decode_cores_per_camera']:.3f}, {row['decode_ms_per_frame'] or 0:.2f} ms "
                  f"a frame; model {row['inference_cores_per_camera']:.3f}), grabbed "
                  f"{row['grab_fps_min']:.1f} fps at least", flush=True)  # fmt: skip


def plan(args: argparse.Namespace, variants: dict[str, Variant]) -> Iterator[StepSpec]:
    """Each configuration to sweep; the baseline tree's next to ours, per compared variant and
    motion gate setting."""
    common = {"detect_fps": args.detect_fps, "warmup_s": args.warmup_s, "n": 0,
              "measure_s": args.measure_s, "model": args.model,
              "onnx_threads": args.onnx_threads}  # fmt: skip
    after = "after" if args.compare else "tree"
    for name in args.variants.split(","):
        gates = [g.strip() == "on" for g in args.gates.split(",")]
        for gate in [False] if name.endswith("/rtsp") else gates:  # RTSP: transport cost only
            if args.compare and name in args.compare_variants.split(","):
                yield StepSpec(label="before", tree=args.compare.resolve(),
                               variant=variants[name], gate=gate, **common)  # fmt: skip
            yield StepSpec(label=after, tree=args.tree.resolve(), variant=variants[name],
                           gate=gate, camera_lines=tuple(args.camera_toml), **common)  # fmt: skip
