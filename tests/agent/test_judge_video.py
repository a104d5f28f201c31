"""The agent's worker with its default judgement on real clips (a simulated clock, every frame
sampled at 5 fps): the wide campus view is reported honestly, close-ups keep their true counts.
Ground truth and the before/after table: benchmarks/truth/, benchmarks/cctv_truth.py."""

from __future__ import annotations

import pytest

from agent.config import AgentConfig
from tests.conftest import shared_root

VIDEO = shared_root() / "video"


def run(clip: str, judging: bool = True):
    path = VIDEO / clip
    if not path.is_file():
        pytest.skip(f"needs {path} (shared data, not shipped)")
    from calibration.preview import run_worker
    from models.detector import load_detector

    cfg = AgentConfig.model_validate({
        "agent": {"id": "t", "site": "t", "kelurahan_code": "33.74.01.1001"},
        "cameras": [{"id": "cam", "source": str(path)}],
        "judging": {"enabled": judging},
    })  # fmt: skip
    result, worker = run_worker(cfg, cfg.cameras[0], load_detector(), path)
    total = {k: sum(getattr(w, k) for w in result.windows)
             for k in ("people_seen", "masked", "unmasked", "not_judged")}  # fmt: skip
    return total, result.windows, worker


def test_the_wide_campus_view_invents_no_masked_people():
    before, _, _ = run("vtest_sda.mp4", judging=False)
    assert before["masked"] >= 5, f"the phantom this guards against is gone: {before}"
    after, windows, worker = run("vtest_sda.mp4")
    assert after["people_seen"] == before["people_seen"] > 0  # the people are still counted
    assert after["masked"] <= 1 and after["masked"] + after["unmasked"] <= 1, after
    assert after["not_judged"] >= after["people_seen"] - 1
    verdict = worker.suitability.current()
    assert verdict.suitable is False and "too small" in (verdict.reason or "")
    assert windows[-1].suitable is False  # what the counts message carries


@pytest.mark.parametrize(
    ("clip", "masked", "unmasked"),
    [("gituatu_mask.mp4", 1, 0), ("gituatu_nomask.mp4", 0, 1), ("916241958_mask.mp4", 1, 0)],
)
def test_close_ups_keep_their_true_counts(clip, masked, unmasked):
    total, _, worker = run(clip)
    assert (total["masked"], total["unmasked"], total["not_judged"]) == (masked, unmasked, 0)
    assert worker.suitability.current().suitable is not False
