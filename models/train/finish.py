"""After training: export float and INT8 ONNX, then evaluate and time them (and references)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from models.adapters import Adapter
from models.detections import MASK, NO_MASK
from models.detector import load_detector
from models.evaluate import EVAL_CONF, ImageResult, class_ap, run_detector, summarise
from models.registry import ModelError
from models.runtime import RuntimeConfig
from models.train.data import Scene
from models.train.export import export_onnx, manifest_entry, write_sidecar
from models.train.net import build_net
from models.train.quantise import quantise
from models.voc import read_split

FRAME_720P = (1280, 720)


def export_both(
    best: Path, out: Path, name: str, calibration: list[np.ndarray], *, width: int, height: int
) -> tuple[Path, Path]:
    """best.pt (EMA weights) → <name>.onnx and <name>_int8.onnx, each with a sidecar .toml."""
    ck = torch.load(best, map_location="cpu", weights_only=False)
    arch = ck.get("config", {}).get("arch", "v1")
    net = build_net(arch)
    net.load_state_dict(ck["ema"])
    float_path = export_onnx(net, out / f"{name}.onnx", width=width, height=height)
    entry = manifest_entry(float_path, width=width, height=height, arch=arch)
    write_sidecar(float_path, name, entry)
    int8_path = quantise(
        float_path, out / f"{name}_int8.onnx", calibration, width=width, height=height
    )
    int8_entry = manifest_entry(int8_path, width=width, height=height, arch=arch)
    write_sidecar(int8_path, f"{name}_int8", int8_entry)
    return float_path, int8_path


def scenes_ap(detector: Adapter, scenes: list[Scene], images: list[np.ndarray]) -> dict[str, float]:
    """mask / no_mask AP50 of a ready detector over in-memory scenes."""
    results = [
        ImageResult(s.truth, detector.detect(img, conf=EVAL_CONF), 0.0)
        for s, img in zip(scenes, images, strict=True)
    ]
    return {
        "mask": class_ap(results, label=MASK, iou_threshold=0.5),
        "no_mask": class_ap(results, label=NO_MASK, iou_threshold=0.5),
    }


def split_report(detector: Adapter, name: str, voc_root: Path, split: str) -> dict[str, Any]:
    """The evaluator's full report on one split of a VOC folder on disk."""
    stems = read_split(voc_root / f"split_{split}.txt")
    anns = [voc_root / "annotations" / f"{s}.xml" for s in stems]
    results, errors = run_detector(detector, voc_root / "images", anns)
    return summarise(name, detector.spec.conf_threshold, results, errors).to_json()


def frame_latency_ms(detector: Adapter, frame: np.ndarray, *, runs: int = 40) -> dict[str, float]:
    """detect() time on one frame (preprocessing, inference, decoding): median and p90."""
    for _ in range(5):
        detector.detect(frame)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        detector.detect(frame)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"median": statistics.median(times), "p90": times[int(0.9 * (len(times) - 1))]}


def latency_table(
    models: dict[str, str], frame: np.ndarray, *, threads: int = 2, rounds: int = 3
) -> dict[str, dict[str, float]]:
    """Interleaved rounds over all models (fair under background load); best round per model."""
    runtime = RuntimeConfig(intra_op_threads=threads, inter_op_threads=1)
    detectors: dict[str, Adapter] = {}
    for label, ref in models.items():
        try:
            detectors[label] = load_detector(ref, runtime=runtime)
        except ModelError as exc:
            print(f"  latency: skipping {label}: {exc}")
    table: dict[str, dict[str, float]] = {}
    for _ in range(rounds):
        for label, det in detectors.items():
            lat = frame_latency_ms(det, frame)
            if label not in table or lat["median"] < table[label]["median"]:
                table[label] = lat
    return table


def make_frame(image: np.ndarray) -> np.ndarray:
    """A 1280x720 frame built from a scene (stretched), for timing."""
    return cv2.resize(image, FRAME_720P, interpolation=cv2.INTER_LINEAR)
