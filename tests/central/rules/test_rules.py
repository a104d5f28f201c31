"""Decision rules: pure evaluation, de-dup/resolve, storage on both DBs, rules files, MQTT."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from central.rules import (
    DEFAULT_RULES,
    AlertStore,
    Bed,
    Figures,
    KelurahanFigures,
    Pharmacy,
    Rules,
    RulesEngine,
    evaluate,
    load_rules,
)
from central.rules.evaluate import distance_km, ppkm_level
from central.store import schema
from central.uncertainty.correction import Confusion
from siaga.settings import ConfigError

NOW = datetime(2021, 7, 10, 5, 0, tzinfo=UTC)  # 12:00 in Semarang
CENTROID = (110.42, -6.99)  # (lng, lat)
KM_LAT = 1 / 111.2  # degrees of latitude per km, about


def kel(code: str = "3374010001", **over: Any) -> KelurahanFigures:
    base: dict[str, Any] = dict(
        code=code, kecamatan_code=code[:6] + "0", centroid=CENTROID, people_seen=100,
        masked=60, unmasked=40, window_min=20.0, cases_week=10, cases_prev_week=5,
        population=50_000,
    )  # fmt: skip
    return KelurahanFigures(**(base | over))


def pharmacy(quantity: int = 10, km: float = 1.0, kel_code: str = "3374010099") -> Pharmacy:
    return Pharmacy("apt-1", "Apotek Satu", kel_code, CENTROID[1] + km * KM_LAT, CENTROID[0],
                    quantity)  # fmt: skip


def fired(figures: Figures, rules: Rules = DEFAULT_RULES) -> dict[tuple[str, str], str]:
    return {d.key: d.severity for d in evaluate(figures, rules, NOW)}


# ---- pure rules, table-driven ----

LC = "low_compliance"
K = "3374010001"


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        ({}, {(LC, K): "warn"}),  # 60% over 20 min, 100 people, cases 5 → 10
        ({"masked": 70, "unmasked": 30}, {}),  # exactly 70% is not below 70%
        ({"masked": 69, "unmasked": 31}, {(LC, K): "warn"}),
        ({"masked": 11, "unmasked": 8}, {}),  # 19 judged: below the minimum people
        ({"masked": 12, "unmasked": 8}, {(LC, K): "warn"}),  # 20 judged: at the minimum
        ({"people_seen": 500, "masked": 11, "unmasked": 8}, {}),  # many seen, too few judged
        ({"window_min": 19.9}, {}),  # too short a window
        ({"cases_week": 5}, {}),  # flat cases
        ({"cases_week": 4}, {}),  # falling cases
        ({"cases_prev_week": None}, {}),  # unknown trend
        ({"masked": 0, "unmasked": 0}, {}),  # nobody judged
    ],
)
def test_low_compliance_on_the_point_value(
    over: dict[str, Any], expected: dict[tuple[str, str], str]
) -> None:
    assert fired(Figures(kelurahan={K: kel(**over)}), POINT) == expected


POINT = Rules.model_validate({"low_compliance": {"basis": "point"}})


@pytest.mark.parametrize(
    ("masked", "unmasked", "expected"),
    [  # the default basis: the whole Wilson 95 % interval below 70 %
        (60, 40, True),  # 60 % (50.2–69.1 %)
        (64, 36, False),  # 64 % (54.2–72.7 %): the point is low, the evidence is not
        (13, 7, False),  # the 13 of 20: 65 % (43–82 %)
        (12, 8, False),  # 60 % of 20 (38.7–78.1 %): fired on the point value, not here
        (190, 122, True),  # 61 % of 312 (55.4–66.2 %)
        (6_800, 3_200, True),  # 68 % of 10,000 (67.1–68.9 %): with many people, a small gap
        (0, 20, True),  # 0 of 20 (0–16.1 %)
        (0, 0, False),  # nobody judged
    ],
)
def test_low_compliance_on_the_interval(masked: int, unmasked: int, expected: bool) -> None:
    figures = Figures(kelurahan={K: kel(masked=masked, unmasked=unmasked)})
    assert ((LC, K) in fired(figures)) is expected


def test_low_compliance_without_rising_cases_when_configured() -> None:
    rules = Rules.model_validate({"low_compliance": {"require_rising_cases": False,
                                                     "basis": "point"}})  # fmt: skip
    assert fired(Figures(kelurahan={K: kel(cases_week=5)}), rules) == {(LC, K): "warn"}


MS = "mask_stock"


@pytest.mark.parametrize(
    ("ph", "k_over", "expected"),
    [
        (pharmacy(10, 1.0), {}, True),  # near and low
        (pharmacy(50, 1.0), {}, False),  # 50 is not below 50
        (pharmacy(49, 1.0), {}, True),
        (pharmacy(10, 1.9), {}, True),  # inside 2 km
        (pharmacy(10, 2.2), {}, False),  # outside 2 km
        (pharmacy(10, 9.0, K), {}, True),  # far from the centroid but in the kelurahan
        (pharmacy(10, 1.0), {"masked": 80, "unmasked": 20}, False),  # compliance fine
        (pharmacy(10, 1.0), {"cases_week": 5}, True),  # stock rule needs no case trend
        (pharmacy(10, 1.0), {"centroid": None}, False),  # no centroid: only "in"
    ],
)
def test_mask_stock(ph: Pharmacy, k_over: dict[str, Any], expected: bool) -> None:
    got = fired(Figures(kelurahan={K: kel(**k_over)}, pharmacies=(ph,)), POINT)
    assert ((MS, K) in got) is expected


def test_distance_km() -> None:
    assert distance_km(CENTROID, (CENTROID[0], CENTROID[1] + KM_LAT)) == pytest.approx(1.0, 0.01)


BO = "bed_occupancy"


@pytest.mark.parametrize(
    ("used", "expected"),
    [(60, None), (61, "warn"), (80, "warn"), (81, "critical"), (100, "critical"), (0, None)],
)
def test_bed_occupancy_city_and_hospital(used: int, expected: str | None) -> None:
    got = fired(Figures(beds=(Bed("rs-1", "RS Satu", 100, used),)))
    assert got.get((BO, "city")) == expected
    assert got.get((BO, "hospital/rs-1")) == expected


def test_bed_occupancy_city_wide_differs_from_hospitals() -> None:
    beds = (Bed("rs-1", "RS Satu", 10, 9), Bed("rs-2", "RS Dua", 90, 40))
    got = fired(Figures(beds=beds))
    assert got == {(BO, "hospital/rs-1"): "critical"}  # city: 49/100


@pytest.mark.parametrize(
    ("rate", "level"),
    [(0, 1), (19.9, 1), (20, 2), (49.9, 2), (50, 3), (150, 3), (150.1, 4), (1000, 4)],
)
def test_ppkm_level(rate: float, level: int) -> None:
    assert ppkm_level(rate, (20.0, 50.0, 150.0)) == level


@pytest.mark.parametrize(
    ("cases", "expected"), [(49, None), (50, "warn"), (150, "warn"), (151, "critical")]
)
def test_ppkm_alert_per_kecamatan(cases: int, expected: str | None) -> None:
    # two kelurahan of one kecamatan, 100,000 people in all
    a = kel("3374010001", cases_week=cases - 10, masked=100, unmasked=0)
    b = kel("3374010002", cases_week=10, masked=100, unmasked=0)
    got = fired(Figures(kelurahan={a.code: a, b.code: b}))
    assert got.get(("ppkm_level", "3374010")) == expected


def test_disabled_rules_fire_nothing() -> None:
    names = ("low_compliance", "mask_stock", "bed_occupancy", "ppkm")
    rules = Rules.model_validate({name: {"enabled": False} for name in names})
    figures = Figures(kelurahan={K: kel(cases_week=500)}, pharmacies=(pharmacy(),),
                      beds=(Bed("rs-1", "RS", 10, 10),))  # fmt: skip
    assert len(evaluate(figures, DEFAULT_RULES, NOW)) == 5
    assert evaluate(figures, rules, NOW) == []


def test_decision_carries_reason_and_figures() -> None:
    (d,) = [d for d in evaluate(Figures(kelurahan={K: kel()}), DEFAULT_RULES, NOW)
            if d.rule == LC]  # fmt: skip
    assert d.action == "mask enforcement operation"
    assert d.reason == (
        "kepatuhan masker 60 % (IK 95 % 50–69 %, 100 orang) seluruh interval di bawah 70 % "
        "selama 20 menit (100 orang terlihat) / mask compliance 60 % (95 % CI 50–69 %, "
        "100 people) whole interval below 70 % over 20 min (100 people seen); "
        "kasus mingguan naik / weekly cases rising 5 → 10"
    )
    assert d.figures["compliance"] == 0.6 and d.figures["people_seen"] == 100
    assert d.figures["interval"] == {"method": "wilson", "level": 0.95, "low": 0.502,
                                     "high": 0.6906, "n": 100}  # fmt: skip
    assert d.figures["basis"] == "interval" and d.figures["corrected"] is None


# ---- rules files ----


def test_example_file_equals_embedded_defaults() -> None:
    example = Path(__file__).resolve().parents[3] / "central" / "rules.example.toml"
    assert load_rules(example) == DEFAULT_RULES
    assert load_rules(None) == DEFAULT_RULES


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[low_compliance]\nthreshhold = 0.5\n", "low_compliance.threshhold: Extra inputs"),
        ("[nonsense]\n", "nonsense: Extra inputs"),
        ("[low_compliance]\nthreshold = 1.5\n", "low_compliance.threshold: Input should be"),
        ("[low_compliance]\nmin_people = 0\n", "low_compliance.min_people"),
        ("[bed_occupancy]\nwarn = 0.9\ncritical = 0.8\n", "critical must be above warn"),
        ("[ppkm]\nbounds = [50, 20, 150]\n", "bounds must be increasing"),
        ("[ppkm]\nbounds = [1, 2]\n", "ppkm.bounds"),
        ('[mask_stock]\nseverity = "loud"\n', "mask_stock.severity"),
        ('[mask_stock]\nradius_km = "far"\n', "mask_stock.radius_km"),
        ('timezone = "Mars/Olympus"\n', "unknown time zone"),
        ("[low_compliance\n", "not valid TOML"),
    ],
)
def test_bad_rules_files(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    assert str(path) in str(err.value) and needle in str(err.value)


def test_missing_rules_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_rules(tmp_path / "absent.toml")


# ---- storage: de-dup, update, resolve (both databases) ----


def test_dedup_update_and_resolve_over_three_evaluations(engine: Engine) -> None:
    store = AlertStore(engine)
    rs = lambda used: Figures(beds=(Bed("rs-1", "RS Satu", 100, used),))  # noqa: E731
    t1, t2, t3 = NOW, NOW + timedelta(minutes=1), NOW + timedelta(minutes=2)

    e1 = store.apply(evaluate(rs(70), DEFAULT_RULES, t1), t1)
    assert [(e.event, e.area_code, e.severity) for e in e1] == [
        ("open", "city", "warn"), ("open", "hospital/rs-1", "warn")]  # fmt: skip
    again = store.apply(evaluate(rs(70), DEFAULT_RULES, t1), t1)
    assert again == []  # the same figures: nothing new
    e2 = store.apply(evaluate(rs(90), DEFAULT_RULES, t2), t2)
    assert [(e.event, e.severity) for e in e2] == [("update", "critical")] * 2
    assert {e.id for e in e2} == {e.id for e in e1}
    e3 = store.apply(evaluate(rs(50), DEFAULT_RULES, t3), t3)
    assert [(e.event, e.state) for e in e3] == [("resolve", "resolved")] * 2

    rows = store.rows()
    assert len(rows) == 2  # one row per rule+area throughout
    for r in rows:
        assert r["state"] == "resolved" and r["severity"] == "critical"
        assert r["first_seen"] == t1 and r["last_seen"] == t2 and r["resolved_at"] == t3
        assert json.loads(r["figures"])["used"] == 90
    # firing again after the resolve opens a new alert
    e4 = store.apply(evaluate(rs(70), DEFAULT_RULES, t3), t3)
    assert [e.event for e in e4] == ["open", "open"] and len(store.rows("open")) == 2


def _civic(**cols: Any) -> dict[str, Any]:
    return cols | {"schema_version": 1, "updated_at": NOW, "updated_by": "test"}


def test_gather_from_the_database_and_alert(engine: Engine) -> None:
    today = date(2021, 7, 10)
    k1, k2 = "3374010001", "3374010002"
    with engine.begin() as conn:
        conn.execute(schema.kelurahan.insert(), [
            dict(code=k1, name="Satu", kecamatan_code="3374010", centroid_lng=CENTROID[0],
                 centroid_lat=CENTROID[1]),
            dict(code=k2, name="Dua", kecamatan_code="3374010", centroid_lng=None,
                 centroid_lat=None),
        ])  # fmt: skip
        for i in range(4):  # 4 × 5-minute windows ending at NOW: 20 minutes, 40 people, 50 %
            end = NOW - timedelta(minutes=5 * i)
            conn.execute(schema.counts.insert(), dict(
                agent_id="a1", seq=i, camera_id="c1", site="s", kelurahan_code=k1,
                window_start=end - timedelta(minutes=5), window_end=end, people_seen=10,
                masked=5, unmasked=5, occupancy_mean=1.0, occupancy_max=2, frames_processed=1,
                frames_inferred=1, model_name="m", model_version="1", model_sha256="0" * 64,
                kelurahan_mismatch=False, received_at=end,
            ))  # fmt: skip
        cases = [(14, 100), (7, 110), (0, 140)]  # cumulative: +10 then +30
        conn.execute(schema.civic_cases.insert(), [
            _civic(kelurahan_code=k1, date=today - timedelta(days=d), residency="resident",
                   confirmed=c, active=0, recovered=0, deaths=0, suspect=0, probable=0)
            for d, c in cases
        ])  # fmt: skip
        conn.execute(schema.civic_population.insert(), [
            _civic(kelurahan_code=k1, year=2020, population=1),
            _civic(kelurahan_code=k1, year=2021, population=50_000),
        ])  # fmt: skip
        conn.execute(schema.civic_pharmacy_stock.insert(), _civic(
            pharmacy_id="apt-1", item="mask", pharmacy_name="Apotek", kelurahan_code=k2,
            lat=CENTROID[1] + KM_LAT, lng=CENTROID[0], quantity=3, unit="box", as_of=NOW,
        ))  # fmt: skip
        conn.execute(schema.civic_beds.insert(), [
            _civic(hospital_id="rs-1", date=today - timedelta(days=1), room_type=room,
                   hospital_name="RS Satu", kelurahan_code=k1, beds=10, used=used,
                   used_suspect=0, used_confirmed=used, queue=0, prepare=0, free=10 - used)
            for room, used in (("icu", 9), ("ward", 8))
        ])  # fmt: skip
    events = RulesEngine(engine, DEFAULT_RULES).run(NOW)
    got = {(e.rule, e.area_code): (e.event, e.severity) for e in events}
    assert got == {
        ("low_compliance", k1): ("open", "warn"),
        ("mask_stock", k1): ("open", "warn"),
        ("bed_occupancy", "city"): ("open", "critical"),  # 17/20
        ("bed_occupancy", "hospital/rs-1"): ("open", "critical"),
        ("ppkm_level", "3374010"): ("open", "warn"),  # 30 / 50,000 → 60 per 100,000
    }
    ppkm = next(e for e in events if e.rule == "ppkm_level")
    assert ppkm.figures["level"] == 3 and ppkm.figures["rate_per_100k"] == 60.0
    lc = next(e for e in events if e.rule == "low_compliance")
    assert lc.figures["cases_week"] == 30 and lc.figures["cases_prev_week"] == 10
    assert RulesEngine(engine, DEFAULT_RULES).run(NOW) == []  # unchanged: nothing to publish


def test_corrected_basis_judges_the_corrected_figure_and_says_so() -> None:
    # Unmasked faces called masked 30 % of the time: a true 60 % shows as 0.66 / 0.93 = 71 %.
    conf = Confusion(mask=(9_000, 500, 500), no_mask=(3_000, 6_000, 1_000))
    cam = ("box1", "cam1")
    k = kel(masked=710, unmasked=290, people_seen=1_000, cameras={cam: (710, 290)})
    corrected = Rules.model_validate({"low_compliance": {"basis": "corrected"}})
    assert fired(Figures(kelurahan={K: k}), DEFAULT_RULES) == {}  # 71 % (68.1–73.7 %)
    (d,) = evaluate(Figures(kelurahan={K: k}, calibration={cam: conf}), corrected, NOW)
    assert d.figures["basis"] == "corrected"
    assert d.figures["corrected"]["compliance"] == pytest.approx(0.6, abs=0.005)
    assert d.figures["corrected"]["high"] < 0.7 and d.figures["corrected"]["share"] == 1.0
    assert d.reason.startswith("kepatuhan masker terkoreksi 60 % (IK 95 % ")
    assert "/ corrected mask compliance 60 % (95 % CI " in d.reason
    assert "counted 71 %, corrected for detector errors, 100 % from calibrated cameras" in d.reason
    # No calibrated camera in the kelurahan: the interval on the counts decides.
    assert fired(Figures(kelurahan={K: k}, calibration={("box9", "cam9"): conf}), corrected) == {}
