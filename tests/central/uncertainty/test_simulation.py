"""Simulation: windows from a known true compliance, through a detector with known errors.

Each of 1,000 seeded trials is one calibrated camera: a window of PEOPLE people, each truly
masked with probability TRUE_COMPLIANCE, called masked / unmasked / missed with the detector's
per-class probabilities, plus non-faces in proportion to the calls; its calibration is drawn
from the same detector on LABELS labelled faces per class (so the matrix is itself uncertain,
as a technician's would be). The calibration scene's compliance does not matter: the matrix is
P(call | truth). Generated with numpy in one go (seconds).

Measured (seed 2026): the corrected 95 % interval covers the truth in 94.7 % of trials (seeds 1–6:
93.4–96.6 %, mean 94.9 %), mean corrected 0.603; the raw masked share sits at the predicted 0.666
against a true 0.60, and a plain Wilson interval on the raw calls covers the truth in 39.5 %.
"""

from __future__ import annotations

import numpy as np
import pytest

from central.uncertainty.correction import CameraCalls, Confusion, Correction
from central.uncertainty.interval import wilson

TRIALS = 1_000
TRUE_COMPLIANCE = 0.60
PEOPLE = 300
LABELS = 150  # per class
# P(called masked, called unmasked, missed | truly masked) and | truly unmasked.
MASKED_FACE = np.array([0.80, 0.08, 0.12])
UNMASKED_FACE = np.array([0.25, 0.60, 0.15])
NOT_A_FACE = (0.02, 0.03)  # share of masked / unmasked calls that are not faces


def _calls(rng: np.random.Generator, masked_faces: np.ndarray,
           unmasked_faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Per-class outcome counts (trials × 3) and the calls with non-faces added."""
    m = rng.multinomial(masked_faces, MASKED_FACE)
    u = rng.multinomial(unmasked_faces, UNMASKED_FACE)
    calls = m[:, :2] + u[:, :2]
    extra = rng.binomial(calls, np.array(NOT_A_FACE) / (1 - np.array(NOT_A_FACE)))
    return m, u, np.concatenate([calls + extra, extra], axis=1)


def _three(row: np.ndarray) -> tuple[int, int, int]:
    return int(row[0]), int(row[1]), int(row[2])


def _predicted_raw_share() -> float:
    """What the uncorrected masked share converges to: θ_M / (θ_M + θ_U), non-faces added."""
    pi = TRUE_COMPLIANCE
    theta = MASKED_FACE[:2] * pi + UNMASKED_FACE[:2] * (1 - pi)
    theta = theta / (1 - np.array(NOT_A_FACE))
    return float(theta[0] / theta.sum())


def test_corrected_interval_covers_the_truth_and_the_raw_ratio_is_biased_as_predicted() -> None:
    rng = np.random.default_rng(2026)
    truly_masked = rng.binomial(PEOPLE, TRUE_COMPLIANCE, TRIALS)
    _, _, window = _calls(rng, truly_masked, PEOPLE - truly_masked)
    lab_m, lab_u, lab_calls = _calls(rng, np.full(TRIALS, LABELS), np.full(TRIALS, LABELS))
    cams = {
        t: CameraCalls(int(window[t, 0]), int(window[t, 1]),
                       Confusion(_three(lab_m[t]), _three(lab_u[t]),
                                 (int(lab_calls[t, 2]), int(lab_calls[t, 3]))))
        for t in range(TRIALS)
    }  # fmt: skip
    correction = Correction(cams)
    got = [correction.of([t]) for t in range(TRIALS)]
    assert all(g is not None for g in got)
    low = np.array([g.low for g in got if g])
    high = np.array([g.high for g in got if g])
    point = np.array([g.compliance for g in got if g])
    coverage = float(np.mean((low <= TRUE_COMPLIANCE) & (high >= TRUE_COMPLIANCE)))
    raw = window[:, 0] / window[:, :2].sum(axis=1)
    print(
        f"coverage {coverage:.3f}; corrected mean {point.mean():.4f}; raw mean {raw.mean():.4f}"
        f" (predicted {_predicted_raw_share():.4f}); width {np.mean(high - low):.3f}"
    )
    assert coverage >= 0.93
    # The uncorrected point is biased by what the confusion predicts, the corrected one is not.
    assert raw.mean() == pytest.approx(_predicted_raw_share(), abs=0.003)
    assert abs(raw.mean() - TRUE_COMPLIANCE) > 0.015
    assert point.mean() == pytest.approx(TRUE_COMPLIANCE, abs=0.005)
    # And the plain Wilson interval on the raw calls misses the truth far more often.
    wil = [wilson(int(a), int(a + b)) for a, b in window[:, :2]]
    raw_cover = np.mean([w is not None and w[0] <= TRUE_COMPLIANCE <= w[1] for w in wil])
    print(f"uncorrected Wilson coverage {raw_cover:.3f}")
    assert raw_cover < 0.5
