"""benchmarks.agent_throughput on a few real frames: the interleaved blocks add up."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.agent_throughput import STAGES, bench_clip, decode


def test_interleaved_blocks_cover_every_frame_of_every_pass(shared: Path):
    clip = shared / "video" / "vtest_sda.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} not found")
    frames = decode(clip, 6)
    out = bench_clip(frames, "siaga_facemask_v1", block=4, passes=2)
    for stage in STAGES:
        assert out[stage]["frames"] == 12 and out[stage]["cpu_ms_per_frame"] > 0
    for key in ("worker_gate_off", "worker_gate_on"):
        stats = out[key]
        assert stats["ratio_to_bare_model"] > 0
        low, mid, high = stats["block_ratio_p10_p50_p90"]
        assert 0 < low <= mid <= high
    # The gate-off worker looked at all 12 frames; the gated one at no more.
    assert out["worker_gate_off"]["inferred_share"] == 1.0
    assert 0 < out["worker_gate_on"]["inferred_share"] <= 1.0
