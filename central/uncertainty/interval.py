"""The sampling interval of a compliance ratio: the Wilson score interval.

Why Wilson: compliance is a binomial proportion (masked of judged) over windows that often hold a
few dozen people and sit near 0 or 1 (a street where everyone wears a mask). The textbook Wald
interval p ± z·√(p(1−p)/n) collapses to a single point at 0 of n or n of n and undercovers badly
below n ≈ 100; Wilson's interval keeps close to its nominal coverage at small n and near the
edges (Brown, Cai & DasGupta 2001, "Interval Estimation for a Binomial Proportion"), never leaves
[0, 1], is a closed form (cheap for 10,000 cameras every pass) and is what the calibration report
already prints for precision (calibration/fit.py). Clopper–Pearson is conservative (wider than
needed, over 95 % coverage) and needs the beta quantile; Jeffreys and Agresti–Coull perform
about as well as Wilson, so the closed form decides.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any, Final

LEVEL: Final = 0.95
METHOD: Final = "wilson"


def z_of(level: float) -> float:
    """Two-sided normal quantile of a confidence level (0.95 → 1.959964)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must lie in (0, 1), got {level}")
    return NormalDist().inv_cdf(0.5 + level / 2)


def wilson(hits: int, n: int, *, level: float = LEVEL) -> tuple[float, float] | None:
    """Wilson score interval of hits / n, or None when n is 0 (nothing to estimate)."""
    if n < 0 or not 0 <= hits <= n:
        raise ValueError(f"need 0 <= hits <= n, got hits={hits}, n={n}")
    if n == 0:
        return None
    z = z_of(level)
    p = hits / n
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z * math.sqrt(p * (1 - p) / n + z2n / (4 * n)) / (1 + z2n)
    # The exact ends at 0 of n and n of n are 0 and 1; rounding must not push them past.
    low = 0.0 if hits == 0 else max(0.0, centre - half)
    high = 1.0 if hits == n else min(1.0, centre + half)
    return low, high


def interval(masked: int, judged: int, *, level: float = LEVEL) -> dict[str, Any] | None:
    """The summary contract's `interval` object for masked of judged, or None when nobody was
    judged. Given at any n (below the minimum of people too: its width says why no ratio is
    printed)."""
    ends = wilson(masked, judged, level=level)
    if ends is None:
        return None
    return {"method": METHOD, "level": level, "low": round(ends[0], 4),
            "high": round(ends[1], 4), "n": judged}  # fmt: skip
