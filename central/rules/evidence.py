"""Whether a kelurahan's mask compliance is low, on evidence, with hysteresis (pure).

`evidence` turns a kelurahan's counts into the figure the rule judges: the ratio, its Wilson
interval and, where calibrated cameras contribute, the corrected compliance with its interval
(central/uncertainty/). `low_state` applies the rule's basis (central/rules/model.py says which
and why) and its hysteresis: whether the area was low before decides which test applies, so the
opening test (below threshold) and the resolving test (above threshold + margin) never both hold.
`describe` says it in words, Bahasa Indonesia first, then English.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from central import judged
from central.rules.gather import CamKey, KelurahanFigures
from central.rules.model import Basis, LowComplianceRule
from central.uncertainty.correction import CameraCalls, Confusion, Corrected, Correction
from central.uncertainty.interval import interval


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the rule judges for one kelurahan: the figure on its basis and its interval."""

    basis: Basis  # the basis used ("corrected" falls back to "interval" without calibration)
    point: float  # the figure judged: the ratio, or the corrected compliance
    low: float
    high: float
    ratio: float  # masked / judged as counted
    interval: dict[str, Any]  # the Wilson interval object of the ratio (summary contract shape)
    corrected: Corrected | None  # where calibrated cameras contribute


def evidence(
    k: KelurahanFigures, rule: LowComplianceRule, calibration: Mapping[CamKey, Confusion]
) -> Evidence | None:
    """The figure to judge, or None when the window is too short or too few were judged."""
    if k.window_min < rule.window_min:
        return None
    ratio = judged.ratio(k.masked, k.unmasked, rule.min_people)
    iv = interval(k.masked, k.judged, level=rule.level)
    if ratio is None or iv is None:
        return None
    corrected = None
    if rule.basis == "corrected" and any(key in calibration for key in k.cameras):
        calls = {key: CameraCalls(m, u, calibration.get(key)) for key, (m, u) in k.cameras.items()}
        corrected = Correction(calls, level=rule.level).of(calls)
    if corrected is not None:
        return Evidence("corrected", corrected.compliance, corrected.low, corrected.high, ratio,
                        iv, corrected)  # fmt: skip
    basis: Basis = "point" if rule.basis == "point" else "interval"
    return Evidence(basis, ratio, iv["low"], iv["high"], ratio, iv, None)


def low_state(ev: Evidence | None, rule: LowComplianceRule, *, was_open: bool) -> bool | None:
    """Low now? True: open, or keep open; False: stay quiet, or resolve; None: no evidence
    (an open alert is held as it is)."""
    if ev is None:
        return None
    t, margin = rule.threshold, rule.resolve_margin
    if ev.basis == "point":
        opens, clears = ev.point < t, ev.point >= t + margin
    else:
        opens, clears = ev.high < t, ev.low >= t + margin
    return not clears if was_open else opens


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def describe(ev: Evidence, k: KelurahanFigures, rule: LowComplianceRule) -> str:
    """The alert's reason: 'kepatuhan masker 61 % (IK 95 % 55–67 %, 312 orang) di bawah 70 % …
    / mask compliance 61 % (95 % CI 55–67 %, 312 people) below 70 % …'."""
    lvl, t, mins = f"{rule.level * 100:g} %", _pct(rule.threshold), f"{k.window_min:g}"
    ci = f"{_pct(ev.low)[:-2]}–{_pct(ev.high)}"
    if ev.basis == "corrected" and ev.corrected is not None:
        share = _pct(ev.corrected.share)
        idn = (f"kepatuhan masker terkoreksi {_pct(ev.point)} (IK {lvl} {ci}, {k.judged} orang; "
               f"terhitung {_pct(ev.ratio)}, dikoreksi untuk kesalahan detektor, {share} dari "
               f"kamera terkalibrasi)")  # fmt: skip
        eng = (f"corrected mask compliance {_pct(ev.point)} ({lvl} CI {ci}, {k.judged} people; "
               f"counted {_pct(ev.ratio)}, corrected for detector errors, {share} from "
               f"calibrated cameras)")  # fmt: skip
    else:
        idn = f"kepatuhan masker {_pct(ev.point)} (IK {lvl} {ci}, {k.judged} orang)"
        eng = f"mask compliance {_pct(ev.point)} ({lvl} CI {ci}, {k.judged} people)"
    figure = ev.point if ev.basis == "point" else ev.high
    clear = _pct(rule.threshold + rule.resolve_margin)
    if figure >= rule.threshold:  # an open alert held by hysteresis: say what resolves it
        what_id = "angka" if ev.basis == "point" else "batas bawah interval"
        what_en = "the figure" if ev.basis == "point" else "the interval's lower bound"
        below_id = f"belum terbukti di atas {t} (selesai bila {what_id} ≥ {clear})"
        below_en = f"not yet shown above {t} (resolves when {what_en} ≥ {clear})"
    elif ev.basis == "point":
        below_id, below_en = f"di bawah {t}", f"below {t}"
    else:
        below_id, below_en = f"seluruh interval di bawah {t}", f"whole interval below {t}"
    return (f"{idn} {below_id} selama {mins} menit ({k.people_seen} orang terlihat) / "
            f"{eng} {below_en} over {mins} min ({k.people_seen} people seen)")  # fmt: skip


def figures(ev: Evidence) -> dict[str, Any]:
    """The alert payload's uncertainty figures (central/contract/alert.py)."""
    c = ev.corrected
    return {
        "basis": ev.basis,
        "interval": ev.interval,
        "corrected": None if c is None else c.payload(min_people=0, judged=0),
    }
