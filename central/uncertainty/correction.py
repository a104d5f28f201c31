"""Compliance corrected for a calibrated camera's known detector errors, with an interval.

What calibration measures (calibration/fit.py `confusion_at`, carried by the agent's status as
`siaga.wire.DetectorConfusion`): on the technician's labelled faces, at the thresholds in use,
how many truly masked faces the detector called masked, unmasked or missed, the same for truly
unmasked faces, and how many non-faces it called masked or unmasked. Counts, not ratios, so the
correction knows how many labels its own figures rest on.

Model (a misclassification-matrix correction). Each person behind a window is truly masked with
probability π (the compliance we want). The detector calls a truly masked face masked with
probability a_MM, unmasked a_UM, and misses it otherwise; a truly unmasked one a_MU, a_UU. These
are P(call | truth): they do not depend on how many wear masks, so a matrix measured on one day's
labels applies to another day's crowd (precision, P(truth | call), would not). A fraction j_M of
masked calls and j_U of unmasked calls are not faces at all. Then a judged person's call is
masked with probability φ = θ_M / (θ_M + θ_U), θ_M = a_MM·π + a_MU·(1−π), θ_U = a_UM·π + a_UU·(1−π),
which inverts in closed form (r_M = a_MM + a_UM, r_U = a_MU + a_UU):

    π = (a_MU − φ·r_U) / (φ·(r_M − r_U) − a_MM + a_MU)

The observed window gives φ after removing the expected non-faces (M' = M·(1−j_M), U' likewise);
the true people behind it are n = (M' + U') / (r_M·π + r_U·(1−π)), of whom π·n masked. An area's
corrected compliance is Σ π·n / Σ n over its cameras.

Interval: by simulation with fixed seeds (Monte Carlo over the posteriors, reproducible pass to
pass): φ ~ Beta(M' + ½, U' + ½) (Jeffreys: the sampling uncertainty, with good coverage at small
n and near 0/1), each truth class's (masked, unmasked, missed) ~ Dirichlet(counts + ½) and each
non-face fraction ~ Beta(non-faces + ½, faces + ½) (the calibration's own uncertainty: a
matrix from 40 labels spreads far more than one from 4,000); π follows through the formula,
clipped to [0, 1]; the interval is the equal-tailed quantiles of Σ π·n / Σ n. Why simulation
rather than the delta method: π is a ratio of ratios, bounded and strongly skewed where a_MM and
a_MU are close or counts are small, where a linearised normal interval leaves [0, 1] and
undercovers; the simulation needs no derivative and stays inside [0, 1].

Uncalibrated cameras in an area: their people enter with their raw calls (no correction, sampling
uncertainty only, pooled into one Beta per area), and `share` says how much of the area's judged
people the correction covers. A camera whose matrix cannot tell masks apart (informativeness
a_MM/r_M − a_MU/r_U below MIN_INFORMATIVE) is treated as uncalibrated: the inversion would
divide by nearly zero.

Cost: DRAWS floats per calibrated camera and period (cameras × draws; the few dozen calibrated
analytic cameras of a city are a few MB); the calibration's draws are cached per confusion, so a
pass draws only each window's sampling part (500 calibrated cameras among 10,000: about 0.3 s a
period here, 50: 0.05 s; none: nothing); uncalibrated cameras cost one draw vector per area.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from central.uncertainty.interval import LEVEL

METHOD: Final = "confusion-matrix/simulated"
DRAWS: Final = 2000
SEED: Final = 16  # fixed: the same counts give the same interval on every pass
MIN_INFORMATIVE: Final = 0.1
PRIOR: Final = 0.5  # Jeffreys


@dataclass(frozen=True, slots=True)
class Confusion:
    """Calibration outcomes at the thresholds in use, as counts of labelled detections.

    mask / no_mask: truly masked / unmasked faces called (masked, unmasked, missed);
    not_a_face: non-faces called (masked, unmasked).
    """

    mask: tuple[int, int, int]
    no_mask: tuple[int, int, int]
    not_a_face: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        if min(*self.mask, *self.no_mask, *self.not_a_face) < 0:
            raise ValueError("confusion counts cannot be negative")
        if sum(self.mask) == 0 or sum(self.no_mask) == 0:
            raise ValueError("the confusion needs labelled faces of both classes")

    @property
    def labels(self) -> int:
        """Labelled detections it rests on."""
        return sum(self.mask) + sum(self.no_mask) + sum(self.not_a_face)

    def rates(self) -> tuple[float, float, float, float, float, float]:
        """Point estimates (a_MM, a_UM, a_MU, a_UU, j_M, j_U)."""
        m, u = np.array(self.mask, float), np.array(self.no_mask, float)
        a_mm, a_um = m[0] / m.sum(), m[1] / m.sum()
        a_mu, a_uu = u[0] / u.sum(), u[1] / u.sum()
        called_m, called_u = m[0] + u[0], m[1] + u[1]
        jm, ju = self.not_a_face
        j_m = jm / (jm + called_m) if jm + called_m else 0.0
        j_u = ju / (ju + called_u) if ju + called_u else 0.0
        return float(a_mm), float(a_um), float(a_mu), float(a_uu), float(j_m), float(j_u)

    def informativeness(self) -> float:
        """P(masked call | masked face found) − P(masked call | unmasked face found)."""
        a_mm, a_um, a_mu, a_uu, *_ = self.rates()
        r_m, r_u = a_mm + a_um, a_mu + a_uu
        if r_m <= 0 or r_u <= 0:
            return 0.0
        return a_mm / r_m - a_mu / r_u

    @property
    def usable(self) -> bool:
        """Whether the matrix can be inverted with confidence (see MIN_INFORMATIVE)."""
        return self.informativeness() >= MIN_INFORMATIVE


def invert(phi: Any, a_mm: Any, a_um: Any, a_mu: Any, a_uu: Any) -> Any:
    """True compliance π behind an observed masked share φ of judged calls (clipped to [0, 1])."""
    r_m, r_u = a_mm + a_um, a_mu + a_uu
    den = phi * (r_m - r_u) - a_mm + a_mu
    with np.errstate(divide="ignore", invalid="ignore"):
        pi = (a_mu - phi * r_u) / den
    return np.clip(np.nan_to_num(pi, nan=0.5), 0.0, 1.0)


def true_people(faces: Any, pi: Any, a_mm: Any, a_um: Any, a_mu: Any, a_uu: Any) -> Any:
    """People behind `faces` judged calls (faces found / P(found)) at compliance π."""
    return faces / np.maximum((a_mm + a_um) * pi + (a_mu + a_uu) * (1 - pi), 1e-9)


def corrected_point(masked: float, unmasked: float, c: Confusion) -> tuple[float, float] | None:
    """(π, people) for one camera's calls, or None with no calls."""
    a_mm, a_um, a_mu, a_uu, j_m, j_u = c.rates()
    m, u = masked * (1 - j_m), unmasked * (1 - j_u)
    if m + u <= 0:
        return None
    pi = float(invert(m / (m + u), a_mm, a_um, a_mu, a_uu))
    return pi, float(true_people(m + u, pi, a_mm, a_um, a_mu, a_uu))


@dataclass(frozen=True, slots=True)
class CameraCalls:
    """One camera's judged calls over a period and its calibration (None: uncalibrated)."""

    masked: int
    unmasked: int
    confusion: Confusion | None = None

    @property
    def judged(self) -> int:
        return self.masked + self.unmasked

    @property
    def corrects(self) -> bool:
        """Whether this camera's figures are corrected (calibrated with a usable matrix)."""
        return self.confusion is not None and self.confusion.usable


@dataclass(frozen=True, slots=True)
class Corrected:
    """A corrected compliance with its interval and the share of judged people it covers."""

    compliance: float
    low: float
    high: float
    share: float
    level: float = LEVEL

    def payload(self, *, min_people: int, judged: int) -> dict[str, Any]:
        """The summary contract's `corrected` object; compliance null below min_people judged."""
        return {"method": METHOD,
                "compliance": round(self.compliance, 4) if judged >= min_people else None,
                "low": round(self.low, 4), "high": round(self.high, 4),
                "share": round(self.share, 4)}  # fmt: skip


@functools.lru_cache(maxsize=4096)
def matrix_draws(c: Confusion, draws: int) -> np.ndarray:
    """Draws × 6 of (a_MM, a_UM, a_MU, a_UU, j_M, j_U) from the calibration's posterior.

    They depend on the confusion alone, so they are drawn once (seeded by the counts: the same
    calibration gives the same draws in every period, pass and process) and cached: a pass
    then only draws each window's sampling part.
    """
    rng = np.random.default_rng((SEED, *c.mask, *c.no_mask, *c.not_a_face, draws))
    m = rng.dirichlet(np.array(c.mask, float) + PRIOR, size=draws)
    u = rng.dirichlet(np.array(c.no_mask, float) + PRIOR, size=draws)
    called_m, called_u = c.mask[0] + c.no_mask[0], c.mask[1] + c.no_mask[1]
    j_m = rng.beta(c.not_a_face[0] + PRIOR, called_m + PRIOR, size=draws)
    j_u = rng.beta(c.not_a_face[1] + PRIOR, called_u + PRIOR, size=draws)
    out = np.column_stack([m[:, 0], m[:, 1], u[:, 0], u[:, 1], j_m, j_u])
    out.flags.writeable = False  # shared through the cache
    return out


class Correction:
    """Corrected compliance of groups of cameras over one period (one simulation, reused).

    Construct with every camera's calls keyed by anything hashable; `of(keys)` gives a group's
    Corrected (None when none of its judged people come from a correcting camera).
    """

    def __init__(self, cameras: Mapping[Any, CameraCalls], *, draws: int = DRAWS,
                 level: float = LEVEL, seed: int = SEED) -> None:  # fmt: skip
        self.cameras, self.level, self.draws = cameras, level, draws
        self._rng = np.random.default_rng(seed)
        cal = [(k, c) for k, c in cameras.items() if c.corrects and c.judged > 0]
        self._row = {k: i for i, (k, _) in enumerate(cal)}
        self._point: dict[Hashable, tuple[float, float]] = {}
        for k, c in cal:
            assert c.confusion is not None
            pt = corrected_point(c.masked, c.unmasked, c.confusion)
            if pt is not None:
                self._point[k] = pt
        self._tm, self._tn = self._simulate([c for _, c in cal])
        # One camera alone is the commonest group (every camera's own summary): its quantiles
        # in one vectorised call rather than one call per camera.
        tail = (1 - level) / 2
        self._alone = np.quantile(self._tm / np.maximum(self._tn, 1e-9), [tail, 1 - tail], axis=0)

    def _simulate(self, cal: list[CameraCalls]) -> tuple[np.ndarray, np.ndarray]:
        """Draws × cameras of (true masked, true people) for the correcting cameras."""
        k, rng = self.draws, self._rng
        if not cal:
            return np.zeros((k, 0)), np.zeros((k, 0))
        # draws × cameras × 6: each camera's calibration draws (cached per confusion)
        mat = np.stack([matrix_draws(c.confusion, k) for c in cal if c.confusion], axis=1)
        m = np.array([c.masked for c in cal], float) * (1 - mat[..., 4])
        u = np.array([c.unmasked for c in cal], float) * (1 - mat[..., 5])
        phi = rng.beta(m + PRIOR, u + PRIOR)
        a = (mat[..., 0], mat[..., 1], mat[..., 2], mat[..., 3])
        pi = invert(phi, *a)
        n = true_people(m + u, pi, *a)
        return pi * n, n

    def of(self, keys: Iterable[Hashable]) -> Corrected | None:
        """The group's corrected compliance, or None when no correcting camera contributes."""
        if not self._row:  # nothing calibrated this period: every group is uncorrected
            return None
        rows, pm, pn = [], 0.0, 0.0
        raw_m = raw_u = corrected_judged = judged = 0
        for key in keys:
            c = self.cameras.get(key)
            if c is None or c.judged == 0:
                continue
            judged += c.judged
            if key in self._row and key in self._point:
                rows.append(self._row[key])
                corrected_judged += c.judged
                pi, n = self._point[key]
                pm, pn = pm + pi * n, pn + n
            else:
                raw_m, raw_u = raw_m + c.masked, raw_u + c.unmasked
        if not rows:
            return None
        if len(rows) == 1 and raw_m + raw_u == 0:
            low, high = self._alone[:, rows[0]]
            return Corrected(compliance=pm / pn if pn > 0 else 0.0, low=float(low),
                             high=float(high), share=1.0, level=self.level)  # fmt: skip
        tm, tn = self._tm[:, rows].sum(axis=1), self._tn[:, rows].sum(axis=1)
        if raw_m + raw_u:  # uncalibrated people: their raw calls, sampling uncertainty only
            raw = raw_m + raw_u
            # Seeded by the counts: a group's figure does not depend on which came before it.
            rng = np.random.default_rng((SEED, raw_m, raw_u))
            tm = tm + raw * rng.beta(raw_m + PRIOR, raw_u + PRIOR, size=self.draws)
            tn = tn + raw
            pm, pn = pm + raw_m, pn + raw
        ratio = tm / np.maximum(tn, 1e-9)
        tail = (1 - self.level) / 2
        low, high = np.quantile(ratio, [tail, 1 - tail])
        return Corrected(compliance=pm / pn if pn > 0 else 0.0, low=float(low), high=float(high),
                         share=corrected_judged / judged, level=self.level)  # fmt: skip
