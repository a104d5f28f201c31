"""The body of `siaga detect`: frames in, JSON lines and annotated images out, with progress."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import cv2
from tqdm import tqdm

from models.adapters import Adapter
from models.annotate import draw
from models.detections import MASK, NO_MASK, Detections
from models.inputs import Frame, expand, frame_count, frames


@dataclass
class DetectStats:
    """What a detect run did, for the closing summary and the exit status."""

    inputs: int = 0
    processed: int = 0
    mask: int = 0
    no_mask: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the terminal."""
        return (
            f"{self.processed} images/frames from {self.inputs} files: "
            f"{self.mask} mask, {self.no_mask} no_mask; {len(self.errors)} errors"
        )


class DetectJob:
    """Runs one detector over many inputs."""

    def __init__(self, detector: Adapter, *, conf: float | None, annotate_dir: Path | None) -> None:
        self.detector = detector
        self.conf = conf
        self.annotate_dir = annotate_dir
        self._writers: dict[Path, cv2.VideoWriter] = {}

    def run(self, paths: list[Path], out: TextIO | None) -> DetectStats:
        """Process every path; errors are collected and printed as they happen."""
        files, errors = expand(paths)
        stats = DetectStats(inputs=len(files))
        for err in errors:
            self._error(stats, err)
        if self.annotate_dir is not None:
            self.annotate_dir.mkdir(parents=True, exist_ok=True)
        total = sum(frame_count(f) for f in files) or None
        bar = tqdm(total=total, unit="img", disable=None, file=sys.stderr, desc="detect")
        try:
            for fr in frames(files):
                bar.update(1)
                if fr.image is None:
                    self._error(stats, fr.error or f"{fr.source}: unreadable")
                    continue
                dets = self.detector.detect(fr.image, conf=self.conf)
                stats.processed += 1
                stats.mask += dets.count(MASK)
                stats.no_mask += dets.count(NO_MASK)
                if out is not None:
                    out.write(json.dumps(record(fr, dets)) + "\n")
                if self.annotate_dir is not None:
                    self._annotate(fr, dets)
        finally:
            bar.close()
            for writer in self._writers.values():
                writer.release()
        return stats

    def _error(self, stats: DetectStats, message: str) -> None:
        stats.errors.append(message)
        tqdm.write(f"siaga: error: {message}", file=sys.stderr)

    def _annotate(self, fr: Frame, dets: Detections) -> None:
        assert self.annotate_dir is not None and fr.image is not None
        drawn = draw(fr.image, dets)
        if fr.frame_index is None:
            cv2.imwrite(str(self.annotate_dir / fr.source.name), drawn)
            return
        target = self.annotate_dir / f"{fr.source.stem}_annotated.mp4"
        writer = self._writers.get(target)
        if writer is None:
            fps = cv2.VideoCapture(str(fr.source)).get(cv2.CAP_PROP_FPS) or 10.0
            h, w = drawn.shape[:2]
            fourcc = cv2.VideoWriter.fourcc(*"mp4v")
            writer = cv2.VideoWriter(str(target), fourcc, fps, (w, h))
            self._writers[target] = writer
        writer.write(drawn)


def record(fr: Frame, dets: Detections) -> dict[str, object]:
    """The JSON line for one image or video frame."""
    assert fr.image is not None
    rec: dict[str, object] = {"image": fr.source.name}
    if fr.frame_index is not None:
        rec["frame"] = fr.frame_index
    h, w = fr.image.shape[:2]
    rec.update(width=w, height=h, detections=dets.to_records())
    return rec
