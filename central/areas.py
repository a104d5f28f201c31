"""Area registry (kota → kecamatan → kelurahan, boundaries) and the camera registry.

The city's area files live outside the repository (`$SIAGA_SHARED/geo` in development, wherever
the config points in production); they are read at start-up and written into the `kecamatan` and
`kelurahan` tables. The camera registry is a small TOML file that maps every (agent, camera) to
its kelurahan; the collector flags counts whose kelurahan disagrees with it.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine, delete, insert

from central.config import AreasSection
from central.store import schema
from siaga.settings import ConfigError, format_errors, read_toml
from siaga.wire import Ident, KelurahanCode

log = logging.getLogger(__name__)

Ring = Sequence[Sequence[float]]  # [[lng, lat], ...]


class AreaError(ConfigError):
    """An area or camera registry file is missing or invalid (the message says which and why)."""


@dataclass(frozen=True, slots=True)
class Kelurahan:
    """One kelurahan (village/urban ward) with its boundary when known."""

    code: str
    name: str
    kecamatan_code: str
    centroid: tuple[float, float] | None = None  # (lng, lat)
    polygons: tuple[tuple[Ring, ...], ...] = ()  # each polygon: outer ring, then holes

    def contains(self, lng: float, lat: float) -> bool | None:
        """Whether the point lies inside the boundary; None when there is no boundary."""
        if not self.polygons:
            return None
        return any(_in_polygon(lng, lat, poly) for poly in self.polygons)

    def boundary_geojson(self) -> str | None:
        """The boundary as a GeoJSON geometry string."""
        if not self.polygons:
            return None
        coords = [[list(map(list, ring)) for ring in poly] for poly in self.polygons]
        return json.dumps({"type": "MultiPolygon", "coordinates": coords}, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Kecamatan:
    """One kecamatan (district)."""

    code: str
    name: str


@dataclass(frozen=True)
class Areas:
    """The city's hierarchy: one kota, its kecamatan and kelurahan, keyed by code."""

    kota_code: str
    kota_name: str
    kecamatan: dict[str, Kecamatan]
    kelurahan: dict[str, Kelurahan]

    def kelurahan_of(self, kecamatan_code: str) -> list[Kelurahan]:
        """The kelurahan of one kecamatan, by code."""
        return sorted(
            (k for k in self.kelurahan.values() if k.kecamatan_code == kecamatan_code),
            key=lambda k: k.code,
        )


def _in_ring(x: float, y: float, ring: Ring) -> bool:
    # Ray casting: count edge crossings of a ray going right from (x, y).
    inside = False
    n = len(ring)
    for i in range(n):
        x1, y1 = ring[i][0], ring[i][1]
        x2, y2 = ring[i - 1][0], ring[i - 1][1]
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


def _in_polygon(x: float, y: float, poly: Sequence[Ring]) -> bool:
    return bool(poly) and _in_ring(x, y, poly[0]) and not any(_in_ring(x, y, h) for h in poly[1:])


def load_wilayah(path: Path) -> Areas:
    """Read the code,name,level,parent_code CSV; errors name the file, line and reason."""
    if not path.is_file():
        raise AreaError(f"{path}: area file not found (set areas.wilayah_csv or SIAGA_SHARED)")
    kota: tuple[str, str] | None = None
    kec: dict[str, Kecamatan] = {}
    kel_rows: list[tuple[int, str, str, str]] = []
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"code", "name", "level", "parent_code"} - set(reader.fieldnames or [])
        if missing:
            raise AreaError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for row in reader:
            line, level = reader.line_num, row["level"].strip()
            code, name, parent = row["code"].strip(), row["name"].strip(), row["parent_code"]
            if level == "kota":
                kota = (code, name)
            elif level == "kecamatan":
                kec[code] = Kecamatan(code, name)
            elif level == "kelurahan":
                kel_rows.append((line, code, name, parent.strip()))
            else:
                raise AreaError(f"{path}: line {line}: unknown level {level!r}")
    if kota is None:
        raise AreaError(f"{path}: no kota row")
    kel: dict[str, Kelurahan] = {}
    for line, code, name, parent in kel_rows:
        if parent not in kec:
            raise AreaError(f"{path}: line {line}: kelurahan {code}: unknown kecamatan {parent}")
        kel[code] = Kelurahan(code, name, parent)
    return Areas(kota[0], kota[1], kec, kel)


def _polygons(geometry: dict[str, Any]) -> tuple[tuple[Ring, ...], ...]:
    kind, coords = geometry.get("type"), geometry.get("coordinates", [])
    if kind == "Polygon":
        return (tuple(coords),)
    if kind == "MultiPolygon":
        return tuple(tuple(p) for p in coords)
    raise ValueError(f"unsupported geometry type {kind!r}")


def add_boundaries(areas: Areas, path: Path) -> Areas:
    """Attach centroids and polygons from the kelurahan GeoJSON (features matched by code)."""
    if not path.is_file():
        raise AreaError(f"{path}: boundary file not found (set areas.kelurahan_geojson)")
    try:
        features = json.loads(path.read_text(encoding="utf-8"))["features"]
    except (ValueError, KeyError, TypeError) as exc:
        raise AreaError(f"{path}: not a GeoJSON FeatureCollection: {exc}") from None
    kel = dict(areas.kelurahan)
    for i, feat in enumerate(features):
        props = feat.get("properties") or {}
        code = props.get("kelurahan_code")
        if code not in kel:
            log.warning("%s: feature %d: kelurahan %s is not in the area list", path, i, code)
            continue
        try:
            polys = _polygons(feat.get("geometry") or {})
        except ValueError as exc:
            raise AreaError(f"{path}: feature {i} ({code}): {exc}") from None
        c = props.get("centroid")
        centroid = (float(c[0]), float(c[1])) if c else None
        kel[code] = Kelurahan(code, kel[code].name, kel[code].kecamatan_code, centroid, polys)
    return Areas(areas.kota_code, areas.kota_name, areas.kecamatan, kel)


def load_areas(cfg: AreasSection) -> Areas:
    """The hierarchy from the configured CSV, with boundaries when a GeoJSON is configured."""
    areas = load_wilayah(cfg.wilayah_csv)
    geo = cfg.kelurahan_geojson
    # TOML has no null: `kelurahan_geojson = ""` (read as Path(".")) means "no boundaries".
    return add_boundaries(areas, geo) if geo is not None and str(geo) not in ("", ".") else areas


def sync_areas(engine: Engine, areas: Areas) -> None:
    """Replace the kecamatan and kelurahan tables with areas, in one transaction (idempotent)."""
    with engine.begin() as conn:
        conn.execute(delete(schema.kelurahan))
        conn.execute(delete(schema.kecamatan))
        conn.execute(
            insert(schema.kecamatan),
            [{"code": k.code, "name": k.name, "kota_code": areas.kota_code}
             for k in areas.kecamatan.values()],
        )  # fmt: skip
        rows = [
            {
                "code": k.code,
                "name": k.name,
                "kecamatan_code": k.kecamatan_code,
                "centroid_lng": k.centroid[0] if k.centroid else None,
                "centroid_lat": k.centroid[1] if k.centroid else None,
                "boundary_geojson": k.boundary_geojson(),
            }
            for k in areas.kelurahan.values()
        ]
        if rows:
            conn.execute(insert(schema.kelurahan), rows)


# ---- camera registry ----


class CameraEntry(BaseModel):
    """One registered camera: where it is and whether it should be reporting."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent_id: Ident
    camera_id: Ident
    kelurahan_code: KelurahanCode
    name: str | None = Field(default=None, max_length=128)
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    lng: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    expected: bool = True

    @property
    def key(self) -> tuple[str, str]:
        """(agent_id, camera_id)."""
        return self.agent_id, self.camera_id


@dataclass
class CameraRegistry:
    """Registered cameras keyed by (agent_id, camera_id); warnings found while loading."""

    cameras: dict[tuple[str, str], CameraEntry] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def camera_kelurahan(self, agent_id: str, camera_id: str) -> str | None:
        """The registered kelurahan of a camera, or None when it is not registered."""
        entry = self.cameras.get((agent_id, camera_id))
        return entry.kelurahan_code if entry else None

    def expected(self) -> list[CameraEntry]:
        """Cameras that should be reporting."""
        return [c for c in self.cameras.values() if c.expected]


def _entry_label(i: int, raw: Any) -> str:
    if isinstance(raw, dict) and "agent_id" in raw and "camera_id" in raw:
        return f"cameras[{i}] ({raw['agent_id']}/{raw['camera_id']})"
    return f"cameras[{i}]"


def _check_entry(entry: CameraEntry, areas: Areas) -> tuple[list[str], list[str]]:
    errors: list[str] = []
    warnings: list[str] = []
    kel = areas.kelurahan.get(entry.kelurahan_code)
    if kel is None:
        errors.append(f"kelurahan_code: unknown kelurahan {entry.kelurahan_code}")
    if (entry.lat is None) != (entry.lng is None):
        errors.append("lat and lng: give both or neither")
    elif (
        entry.lat is not None
        and entry.lng is not None
        and kel is not None
        and kel.contains(entry.lng, entry.lat) is False
    ):
        warnings.append(
            f"lat {entry.lat}, lng {entry.lng} lies outside kelurahan "
            f"{kel.code} ({kel.name}); check the coordinates or the kelurahan"
        )
    return errors, warnings


def parse_cameras(raw_entries: Iterable[Any], areas: Areas, *, where: str) -> CameraRegistry:
    """Validate camera entries; errors (all of them, one a line) name the file, entry and reason."""
    reg = CameraRegistry()
    errors: list[str] = []
    for i, raw in enumerate(raw_entries):
        label = f"{where}: {_entry_label(i, raw)}"
        try:
            entry = CameraEntry.model_validate(raw)
        except ValidationError as exc:
            errors.append(format_errors(label, exc))
            continue
        errs, warns = _check_entry(entry, areas)
        if entry.key in reg.cameras:
            errs.append("duplicate: this agent_id/camera_id is registered twice")
        errors.extend(f"{label}: {e}" for e in errs)
        reg.warnings.extend(f"{label}: {w}" for w in warns)
        if not errs:
            reg.cameras[entry.key] = entry
    if errors:
        raise AreaError("\n".join(errors))
    return reg


def load_cameras(path: Path | None, areas: Areas) -> CameraRegistry:
    """The camera registry TOML (`[[cameras]]` tables); no file configured: empty registry."""
    if path is None:
        return CameraRegistry()
    if not path.is_file():
        raise AreaError(f"{path}: camera registry not found (areas.cameras_file)")
    try:
        data = read_toml(path)
    except ConfigError as exc:
        raise AreaError(str(exc)) from None
    unknown = set(data) - {"cameras"}
    if unknown:
        raise AreaError(f"{path}: unknown top-level key(s): {', '.join(sorted(unknown))}")
    entries = data.get("cameras", [])
    if not isinstance(entries, list):
        raise AreaError(f"{path}: cameras: expected an array of tables ([[cameras]])")
    reg = parse_cameras(entries, areas, where=str(path))
    for w in reg.warnings:
        log.warning("%s", w)
    return reg


def sync_cameras(engine: Engine, registry: CameraRegistry) -> None:
    """Replace the cameras table with the registry, in one transaction (idempotent)."""
    with engine.begin() as conn:
        conn.execute(delete(schema.cameras))
        rows = [c.model_dump() for c in registry.cameras.values()]
        if rows:
            conn.execute(insert(schema.cameras), rows)
