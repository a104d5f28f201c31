"""The benchmark's table, and the sizing summary a buyer reads: cameras per core per
configuration, at the largest N where every camera held its detect fps."""

from __future__ import annotations

from typing import Any

STAGES = ("decode", "convert", "preprocess", "inference", "track")


def _configs(rows: list[dict[str, Any]]) -> dict[tuple[str, str, bool], list[dict[str, Any]]]:
    out: dict[tuple[str, str, bool], list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault((r["tree"], r["variant"], r["gate"]), []).append(r)
    return out


UNDER_TEST = ("after", "tree")  # the labels of the tree under test (with and without --compare)


def _largest_held(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    held = [r for r in steps if r.get("held")]
    return max(held, key=lambda r: r["n"]) if held else None


def floor_points(rows: list[dict[str, Any]]) -> list[tuple[str, int, float]]:
    """(variant, N, inferred fps) where the floor is measured: each largest N a configuration
    of the tree under test held, with the frames a second it inferred there (0.1 steps)."""
    points: list[tuple[str, int, float]] = []
    for (tree, variant, _gate), steps in _configs(rows).items():
        best = _largest_held(steps)
        if tree in UNDER_TEST and best:
            point = (variant, best["n"], _infer_fps(best))
            if point not in points:
                points.append(point)
    return points


def _infer_fps(row: dict[str, Any]) -> float:
    return round(float(row.get("inferred_fps_mean") or row["detect_fps_mean"]), 1)


def sizing(rows: list[dict[str, Any]], bare: dict[str, float] | None, detect_fps: float,
           floors: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Per configuration: the largest N that held and the CPU per camera there.

    cameras_per_core = 1 / (agent cores per camera at that N): what a box of C free cores serves
    is about C times that. x_bare = that CPU against the bare model's CPU for detect_fps frames a
    second (1.0 would be inference alone). Where the floor was measured at that N and inferred
    rate (floor.py, a minimal agent: decoding every frame and the model on as many frames):
    floor_cores_per_camera, ceiling_cameras_per_core = 1 / floor (what no agent with this
    decoder and model could beat here), x_floor = the agent's CPU against it, and with a
    baseline, ceiling_vs_before = the ceiling against the baseline's cameras per core: the most
    any agent could gain over it on this machine."""
    out: list[dict[str, Any]] = []
    for (tree, variant, gate), steps in _configs(rows).items():
        best = _largest_held(steps)
        failed = sorted(r["n"] for r in steps if r.get("held") is False)
        entry: dict[str, Any] = {"tree": tree, "variant": variant, "gate": gate,
                                 "largest_n": best["n"] if best else 0,
                                 "first_failed_n": failed[0] if failed else None}  # fmt: skip
        if best:
            cpc = best["cores_per_camera"]
            entry.update({
                "cores_per_camera": cpc, "cameras_per_core": 1 / cpc if cpc else None,
                "stage_cores_per_camera": best.get("stage_cores_per_camera"),
                "rss_mb": best.get("rss_mb"), "inference_ms_mean": best.get("inference_ms_mean"),
                "x_bare": cpc / (detect_fps * bare["cpu_ms_per_frame"] / 1000) if bare else None,
            })  # fmt: skip
            floor = None
            if floors and tree in UNDER_TEST:
                floor = _floor_at(floors, variant, best["n"], _infer_fps(best))
            if floor:
                f = floor["cores_per_camera"]
                entry.update({"floor_decode_cores_per_camera": floor["decode_cores_per_camera"],
                              "floor_inference_cores_per_camera":
                                  floor["inference_cores_per_camera"],
                              "floor_cores_per_camera": f, "ceiling_cameras_per_core": 1 / f,
                              "x_floor": cpc / f})  # fmt: skip
        out.append(entry)
    before = {(e["variant"], e["gate"]): e for e in out if e["tree"] == "before"}
    for e in out:
        b = before.get((e["variant"], e["gate"]))
        if e["tree"] == "after" and b and b.get("cameras_per_core") and e.get("cameras_per_core"):
            e["cameras_per_core_vs_before"] = e["cameras_per_core"] / b["cameras_per_core"]
            e["largest_n_vs_before"] = e["largest_n"] / b["largest_n"] if b["largest_n"] else None
            if e.get("ceiling_cameras_per_core"):
                e["ceiling_vs_before"] = e["ceiling_cameras_per_core"] / b["cameras_per_core"]
    return out


def _floor_at(floors: list[dict[str, Any]], variant: str, n: int,
              infer_fps: float) -> dict[str, Any] | None:  # fmt: skip
    return next((f for f in floors if f.get("variant") == variant and f.get("n") == n
                 and f.get("infer_fps_asked") == infer_fps and "cores_per_camera" in f),
                None)  # fmt: skip


def _f(v: Any, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def print_table(report: dict[str, Any]) -> None:
    """Every step, then the sizing summary."""
    for key in ("bare_model_start", "bare_model_end"):
        b = report.get(key)
        if b:
            print(f"{key}: {b['fps']:.1f} fps on one thread, {b['cpu_ms_per_frame']:.1f} ms CPU "
                  "per frame")  # fmt: skip
    stage_hdr = "".join(f"{s[:5]:>7}" for s in STAGES)
    print(f"{'tree':7}{'variant':12}{'gate':5}{'N':>4}{'held':>6}{'fps min':>8}{'read':>6}"
          f"{'cores':>7}{'/cam':>7}{stage_hdr}{'rest':>7}{'inf ms':>7}{'RSS':>6}{'srv':>6}"
          f"{'others':>7}{'ovl':>4}")  # fmt: skip
    for r in report["rows"]:
        head = f"{r['tree']:7}{r['variant']:12}{'on' if r['gate'] else 'off':5}{r['n']:>4}"
        if "skipped" in r or "error" in r:
            print(f"{head}  {r.get('skipped') or 'ERROR ' + r['error'].splitlines()[0][:80]}")
            continue
        split = r.get("stage_cores_per_camera") or {}
        stages = "".join(f"{_f(split.get(s), '.3f'):>7}" for s in STAGES)
        stages += f"{_f(r.get('unattributed_cores_per_camera'), '.3f'):>7}"
        print(f"{head}{'yes' if r['held'] else 'NO':>6}{r['detect_fps_min']:8.2f}"
              f"{r['read_fps_min']:6.1f}{r['agent_cores']:7.2f}{r['cores_per_camera']:7.3f}"
              f"{stages}{_f(r['inference_ms_mean'], '.1f'):>7}{_f(r.get('rss_mb'), '.0f'):>6}"
              f"{r['server_cores']:6.2f}{r['other_cores']:7.2f}"
              f"{len(r['status_overloaded']):>4}")  # fmt: skip
    print("\nsizing (largest N where every camera held >= 95 % of detect fps):")
    for e in report["sizing"]:
        vs = e.get("cameras_per_core_vs_before")
        print(f"  {e['tree']:7}{e['variant']:12}gate {'on ' if e['gate'] else 'off'} "
              f"largest N {e['largest_n']:>3} (first failed {_f(e['first_failed_n'], 'd')}), "
              f"{_f(e.get('cores_per_camera'), '.3f')} cores/camera = "
              f"{_f(e.get('cameras_per_core'), '.1f')} cameras/core, "
              f"{_f(e.get('x_bare'), '.1f')}x the bare model"
              + (f", {vs:.2f}x the cameras per core of before" if vs else ""))  # fmt: skip
        if e.get("floor_cores_per_camera"):
            up = e.get("ceiling_vs_before")
            print(f"{'':9}floor {e['floor_cores_per_camera']:.3f} cores/camera (decoding "
                  f"{e['floor_decode_cores_per_camera']:.3f}, model "
                  f"{e['floor_inference_cores_per_camera']:.3f}) = at most "
                  f"{e['ceiling_cameras_per_core']:.1f} cameras/core for any agent here; this "
                  f"one at {e['x_floor']:.2f}x the floor"
                  + (f"; the ceiling is {up:.2f}x before's cameras per core" if up else ""))
    for f in report.get("floors", []):
        if "error" in f or "skipped" in f:
            print(f"  floor {f['variant']} N={f['n']}: {f.get('skipped') or f['error'][:200]}")


def markdown(report: dict[str, Any]) -> str:
    """The sizing table as Markdown, for docs/deployment.md."""
    variants = report.get("variants", {})
    lines = [
        "| stream | motion gate | tree | largest N held (2-core VM) | CPU per camera "
        "(cores) | cameras per core | × bare model | floor per camera (decoding; model) | "
        "ceiling, cameras per core |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in report["sizing"]:
        v = variants.get(e["variant"], {})
        stream = f"{v.get('width')}×{v.get('height')} @ {v.get('fps', 0):g} fps"
        lines.append(
            f"| {stream} | {'on' if e['gate'] else 'off'} | {e['tree']} | "
            f"{e['largest_n']} | {_f(e.get('cores_per_camera'), '.3f')} | "
            f"{_f(e.get('cameras_per_core'), '.1f')} | {_f(e.get('x_bare'), '.1f')} | "
            + (f"{e['floor_cores_per_camera']:.3f} ({e['floor_decode_cores_per_camera']:.3f}; "
               f"{e['floor_inference_cores_per_camera']:.3f}) | "
               f"{e['ceiling_cameras_per_core']:.1f} |" if e.get("floor_cores_per_camera")
               else "- | - |")
        )
    return "\n".join(lines) + "\n"
