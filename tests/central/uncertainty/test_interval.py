"""Wilson intervals against hand-computed values (z = 1.959964 at 95 %).

By hand: 0 of n has low 0 and high z²/(n + z²); n of n has low n/(n + z²) and high 1; otherwise
centre (p + z²/2n)/(1 + z²/n) ± z·√(p(1−p)/n + z²/4n²)/(1 + z²/n)
(worked to 30 digits with decimal.Decimal, rounded to 6).
"""

from __future__ import annotations

import pytest

from central.uncertainty.interval import interval, wilson, z_of


@pytest.mark.parametrize(
    ("hits", "n", "low", "high"),
    [
        (0, 10, 0.0, 0.277533),  # 3.841459 / 13.841459
        (10, 10, 0.722467, 1.0),  # 10 / 13.841459
        (0, 1, 0.0, 0.793451),  # 3.841459 / 4.841459
        (1, 1, 0.206549, 1.0),  # 1 / 4.841459
        (13, 20, 0.432854, 0.818808),  # the 13 masked of 20: 43 % to 82 %
        (50, 100, 0.403832, 0.596168),  # 0.5 ± 1.96·√(0.0025 + 0.0000960)/1.038415
        (600_000, 1_000_000, 0.599039, 0.600960),  # ± 1.96·√(0.24e-6) ≈ ± 0.000960
        (3, 3_000, 0.000340, 0.002936),
    ],
)
def test_wilson_hand_computed(hits: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson(hits, n) or (None, None)
    assert lo == pytest.approx(low, abs=1e-6)
    assert hi == pytest.approx(high, abs=1e-6)


def test_nobody_judged_has_no_interval() -> None:
    assert wilson(0, 0) is None
    assert interval(0, 0) is None


def test_interval_object_says_method_level_and_people() -> None:
    assert interval(13, 20) == {"method": "wilson", "level": 0.95, "low": 0.4329,
                                "high": 0.8188, "n": 20}  # fmt: skip


def test_other_levels_and_bad_input() -> None:
    assert z_of(0.95) == pytest.approx(1.959964, abs=1e-6)
    lo90, hi90 = wilson(13, 20, level=0.90) or (0, 0)
    lo95, hi95 = wilson(13, 20) or (0, 0)
    assert lo95 < lo90 < 0.65 < hi90 < hi95
    for hits, n in [(3, 2), (-1, 5), (0, -1)]:
        with pytest.raises(ValueError, match="hits"):
            wilson(hits, n)
    with pytest.raises(ValueError, match="level"):
        z_of(1.0)
