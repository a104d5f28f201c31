"""Area registry (the city's files) and camera registry validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from central.areas import (
    AreaError,
    Kelurahan,
    load_areas,
    load_cameras,
    load_wilayah,
    parse_cameras,
    sync_areas,
    sync_cameras,
)
from central.config import AreasSection, load_config
from central.store import schema
from tests.central.summary_fixtures import SQUARE, A, B, small_areas

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def geo(shared: Path) -> Path:
    d = shared / "geo"
    if not (d / "semarang_wilayah.csv").is_file():
        pytest.skip(f"area files not found under {d}")
    return d


@pytest.fixture(scope="module")
def city(geo: Path):
    cfg = AreasSection(
        wilayah_csv=geo / "semarang_wilayah.csv",
        kelurahan_geojson=geo / "semarang_kelurahan.geojson",
    )
    return load_areas(cfg)


def test_city_files(city):
    assert (city.kota_code, city.kota_name) == ("33.74", "Kota Semarang")
    assert (len(city.kecamatan), len(city.kelurahan)) == (16, 177)
    bugangan = city.kelurahan["33.74.03.1006"]
    assert (bugangan.name, bugangan.kecamatan_code) == ("Bugangan", "33.74.03")
    assert all(k.polygons and k.centroid for k in city.kelurahan.values())
    assert bugangan.contains(*bugangan.centroid) is True
    assert city.kelurahan["33.74.01.1001"].contains(*bugangan.centroid) is False


def test_sync_is_idempotent(city, tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    schema.metadata.create_all(engine)
    for _ in range(2):
        sync_areas(engine, city)
    with engine.connect() as conn:
        kel = conn.execute(select(func.count()).select_from(schema.kelurahan)).scalar()
        kec = conn.execute(select(func.count()).select_from(schema.kecamatan)).scalar()
        geo = conn.execute(select(schema.kelurahan.c.boundary_geojson)
                           .where(schema.kelurahan.c.code == "33.74.03.1006")).scalar()  # fmt: skip
    assert (kel, kec) == (177, 16)
    assert str(geo).startswith('{"type":"MultiPolygon"')


def test_example_camera_file_is_valid(city):
    reg = load_cameras(REPO / "central/cameras.example.toml", city)
    assert reg.camera_kelurahan("demo-box", "cam1") == "33.74.03.1006"
    assert reg.camera_kelurahan("demo-box", "nope") is None
    assert [c.camera_id for c in reg.expected()] == ["cam1", "cam2", "cam3"]
    assert reg.warnings == []


def test_example_config_is_valid():
    cfg = load_config(REPO / "central/central.example.toml")
    assert cfg.summaries.min_people_for_ratio == 20


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("code,name\n33.74,Kota\n", "missing column(s) level, parent_code"),
        ("code,name,level,parent_code\n33.74.01,X,kecamatan,33.74\n", "no kota row"),
        ("code,name,level,parent_code\n33.74,K,kota,\n33.74.01.1001,X,kelurahan,33.74.09\n",
         "line 3: kelurahan 33.74.01.1001: unknown kecamatan 33.74.09"),
        ("code,name,level,parent_code\n33.74,K,kota,\n1,X,desa,33.74\n", "unknown level 'desa'"),
    ],
)  # fmt: skip
def test_bad_area_files(tmp_path, text, message):
    f = tmp_path / "w.csv"
    f.write_text(text)
    with pytest.raises(
        AreaError, match="w.csv: .*" + message.replace("(", r"\(").replace(")", r"\)")
    ):
        load_wilayah(f)


def test_missing_files_say_so(tmp_path):
    with pytest.raises(AreaError, match="area file not found"):
        load_areas(AreasSection(wilayah_csv=tmp_path / "none.csv", kelurahan_geojson=None))
    with pytest.raises(AreaError, match="camera registry not found"):
        load_cameras(tmp_path / "none.toml", small_areas())


OK = {"agent_id": "box1", "camera_id": "cam1", "kelurahan_code": A}


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{**OK, "kelurahan_code": "33.74.09.9999"}],
         r"cameras\[0\] \(box1/cam1\): kelurahan_code: unknown kelurahan 33.74.09.9999"),
        ([OK, {**OK, "kelurahan_code": B}],
         r"cameras\[1\] \(box1/cam1\): duplicate"),
        ([{**OK, "lat": 95.0, "lng": 110.0}], r"cameras\[0\] \(box1/cam1\): lat: Input should be"),
        ([{**OK, "lat": -6.95}], r"cameras\[0\] \(box1/cam1\): lat and lng: give both or neither"),
        ([{**OK, "lat": float("nan"), "lng": 110.0}], r"lat: Input should be a finite number"),
        ([{**OK, "camera_id": "bad id"}], r"cameras\[0\] \(box1/bad id\): camera_id: String"),
        ([{**OK, "colour": "red"}], r"colour: Extra inputs are not permitted"),
        (["not a table"], r"cameras\[0\]: \(top level\)"),
    ],
)  # fmt: skip
def test_camera_registry_errors(entries, message):
    with pytest.raises(AreaError, match=r"^reg\.toml: .*" + message):
        parse_cameras(entries, small_areas(), where="reg.toml")


@pytest.mark.parametrize(
    ("lat", "lng", "warned"),
    [(-6.95, 110.05, False), (-6.5, 110.05, True), (None, None, False)],
)
def test_point_in_kelurahan_warns(lat, lng, warned):
    reg = parse_cameras([{**OK, "lat": lat, "lng": lng}], small_areas(), where="reg.toml")
    assert bool(reg.warnings) is warned
    if warned:
        assert "lies outside kelurahan 33.74.01.1001 (Miroto)" in reg.warnings[0]


@pytest.mark.parametrize(
    ("lng", "lat", "inside"),
    [(110.05, -6.95, True), (110.2, -6.95, False), (110.05, -6.97, False), (110.01, -6.99, True)],
)
def test_polygon_with_hole(lng, lat, inside):
    hole = ((110.04, -6.98), (110.06, -6.98), (110.06, -6.96), (110.04, -6.96))
    k = Kelurahan(A, "x", "33.74.01", polygons=((SQUARE[0], hole),))
    assert k.contains(lng, lat) is inside


def test_camera_file_round_trip(tmp_path):
    f = tmp_path / "cams.toml"
    f.write_text(f'[[cameras]]\nagent_id = "box1"\ncamera_id = "cam1"\nkelurahan_code = "{A}"\n'
                 'expected = false\n')  # fmt: skip
    reg = load_cameras(f, small_areas())
    engine = create_engine(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    schema.metadata.create_all(engine)
    sync_cameras(engine, reg)
    sync_cameras(engine, reg)
    with engine.connect() as conn:
        rows = conn.execute(select(schema.cameras)).mappings().all()
    assert [(r["agent_id"], r["kelurahan_code"], r["expected"]) for r in rows] == [
        ("box1", A, False)
    ]
    f.write_text("[[cameras]]\nagent_id = 1\n[extra]\n")
    with pytest.raises(AreaError, match="unknown top-level key"):
        load_cameras(f, small_areas())
