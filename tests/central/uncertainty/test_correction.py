"""The misclassification-matrix correction: inversion, groups, shares, edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from central.uncertainty.correction import (
    METHOD,
    CameraCalls,
    Confusion,
    Correction,
    corrected_point,
    invert,
)

# 10,000 labels per class: the matrix is known almost exactly.
EXACT = Confusion(mask=(8_000, 1_000, 1_000), no_mask=(2_000, 6_000, 2_000))
PERFECT = Confusion(mask=(10_000, 0, 0), no_mask=(0, 10_000, 0))


@pytest.mark.parametrize(
    ("pi", "a"),
    [
        (0.7, (0.8, 0.1, 0.2, 0.6)),  # by hand: φ = 0.62 / 0.87 = 0.712644
        (0.0, (0.8, 0.1, 0.2, 0.6)),
        (1.0, (0.8, 0.1, 0.2, 0.6)),
        (0.3, (0.9, 0.05, 0.1, 0.5)),  # masked faces found more often than unmasked ones
        (0.5, (1.0, 0.0, 0.0, 1.0)),  # a perfect detector changes nothing
    ],
)
def test_invert_undoes_the_detector(pi: float, a: tuple[float, float, float, float]) -> None:
    a_mm, a_um, a_mu, a_uu = a
    theta_m, theta_u = a_mm * pi + a_mu * (1 - pi), a_um * pi + a_uu * (1 - pi)
    assert float(invert(theta_m / (theta_m + theta_u), *a)) == pytest.approx(pi, abs=1e-12)


def test_hand_example() -> None:
    assert float(invert(0.62 / 0.87, 0.8, 0.1, 0.2, 0.6)) == pytest.approx(0.7)
    # Outside what the detector can produce: clipped, never a ratio above 1.
    assert float(invert(0.99, 0.8, 0.1, 0.2, 0.6)) == 1.0


def test_point_estimate_removes_non_faces_and_counts_missed_people() -> None:
    # 8 % of masked calls are not faces: 100 masked calls hold 92 faces.
    c = Confusion(mask=(92, 0, 0), no_mask=(0, 50, 50), not_a_face=(8, 0))
    pi, people = corrected_point(100, 46, c) or (0.0, 0.0)
    # 92 masked faces found every time, 46 unmasked faces found half the time: 92 behind 92
    # calls and 92 behind 46 → compliance 0.5 of 184 people.
    assert pi == pytest.approx(0.5, abs=1e-3)
    assert people == pytest.approx(184, rel=1e-3)


def test_perfect_calibration_reproduces_the_raw_ratio_and_wilson_like_width() -> None:
    got = Correction({"a": CameraCalls(130, 70, PERFECT)}).of(["a"])
    assert got is not None
    assert got.compliance == pytest.approx(0.65)
    assert got.share == 1.0
    # Wilson's 130 of 200 is 0.582-0.713; simulation quantiles land within Monte Carlo error.
    assert got.low == pytest.approx(0.582, abs=0.01)
    assert got.high == pytest.approx(0.713, abs=0.01)


def test_known_errors_move_the_figure_the_predicted_way() -> None:
    # True compliance 0.5 through EXACT: φ = (0.4 + 0.1)/(0.4 + 0.1 + 0.05 + 0.3) = 0.588.
    got = Correction({"a": CameraCalls(5_882, 4_118, EXACT)}).of(["a"])
    assert got is not None
    assert got.compliance == pytest.approx(0.5, abs=0.002)
    assert got.low < 0.5 < got.high


def test_few_labels_widen_the_interval() -> None:
    few = Confusion(mask=(32, 4, 4), no_mask=(8, 24, 8))  # the same rates as EXACT, 80 labels
    calls = CameraCalls(5_882, 4_118)
    wide = Correction({"a": CameraCalls(calls.masked, calls.unmasked, few)}).of(["a"])
    narrow = Correction({"a": CameraCalls(calls.masked, calls.unmasked, EXACT)}).of(["a"])
    assert wide is not None and narrow is not None
    assert wide.high - wide.low > 3 * (narrow.high - narrow.low)


def test_groups_mix_calibrated_and_uncalibrated_cameras() -> None:
    cams = {
        "cal": CameraCalls(60, 40, EXACT),
        "raw": CameraCalls(240, 60),
        "empty": CameraCalls(0, 0, EXACT),
    }
    c = Correction(cams)
    mixed = c.of(["cal", "raw", "empty", "unknown"])
    assert mixed is not None
    assert mixed.share == pytest.approx(0.25)  # 100 of 400 judged people corrected
    assert c.of(["raw"]) is None  # no calibrated camera: nothing corrected
    assert c.of(["empty"]) is None
    assert c.of([]) is None


def test_uninformative_matrix_is_not_used() -> None:
    # Masked and unmasked faces are called masked equally often: nothing to invert.
    blind = Confusion(mask=(50, 50, 0), no_mask=(50, 50, 0))
    assert not blind.usable
    assert Correction({"a": CameraCalls(50, 50, blind)}).of(["a"]) is None


def test_same_counts_same_interval() -> None:
    cams = {"a": CameraCalls(60, 40, EXACT), "b": CameraCalls(10, 30)}
    assert Correction(cams).of(["a", "b"]) == Correction(cams).of(["a", "b"])


def test_payload_keeps_compliance_null_below_min_people() -> None:
    got = Correction({"a": CameraCalls(6, 4, EXACT)}).of(["a"])
    assert got is not None
    small = got.payload(min_people=20, judged=10)
    assert small["compliance"] is None and small["method"] == METHOD
    assert 0 <= small["low"] <= small["high"] <= 1
    assert got.payload(min_people=5, judged=10)["compliance"] == round(got.compliance, 4)


@pytest.mark.parametrize(
    ("mask", "no_mask", "junk", "match"),
    [
        ((0, 0, 0), (1, 1, 1), (0, 0), "both classes"),
        ((1, 1, 1), (0, 0, 0), (0, 0), "both classes"),
        ((-1, 1, 1), (1, 1, 1), (0, 0), "negative"),
    ],
)
def test_bad_confusion(
    mask: tuple[int, int, int], no_mask: tuple[int, int, int], junk: tuple[int, int], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        Confusion(mask, no_mask, junk)


def test_interval_stays_in_unit_range_at_the_edges() -> None:
    cams = {"none": CameraCalls(0, 40, EXACT), "all": CameraCalls(40, 0, EXACT)}
    c = Correction(cams)
    for k in cams:
        got = c.of([k])
        assert got is not None
        assert 0.0 <= got.low <= got.compliance <= got.high <= 1.0
    assert np.isfinite([c.of(["none"]).high, c.of(["all"]).low]).all()  # type: ignore[union-attr]
