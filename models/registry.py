"""Model registry: manifests found on a search path, files verified by sha256 at load."""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pydantic import ValidationError

from models.spec import ModelSpec

MANIFEST_NAME = "siaga-models.toml"
PROJECT_MODELS_DIR = Path(__file__).resolve().parent


class ModelError(Exception):
    """A model cannot be found, verified or understood; the message says which and why."""


@dataclass(frozen=True)
class ResolvedModel:
    """A manifest entry with the verified file it points at (None for an entry built from other
    entries, as a two-stage one)."""

    spec: ModelSpec
    path: Path | None


def search_path() -> list[Path]:
    """The project's models/ folder, then SIAGA_MODEL_PATH (or $SIAGA_SHARED/models)."""
    dirs = [PROJECT_MODELS_DIR]
    env = os.environ.get("SIAGA_MODEL_PATH")
    if env:
        dirs += [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    elif os.environ.get("SIAGA_SHARED"):
        dirs.append(Path(os.environ["SIAGA_SHARED"]).expanduser() / "models")
    seen: list[Path] = []
    for d in dirs:
        if d.resolve() not in [s.resolve() for s in seen]:
            seen.append(d)
    return seen


def parse_manifest(path: Path) -> dict[str, ModelSpec]:
    """Read one manifest; errors name the file, the entry and the reason."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ModelError(f"{path}: cannot read manifest: {exc}") from exc
    specs: dict[str, ModelSpec] = {}
    for name, entry in data.get("models", {}).items():
        if not isinstance(entry, dict):
            raise ModelError(f"{path}: models.{name}: expected a table")
        try:
            specs[name] = ModelSpec.model_validate({"name": name, **entry})
        except ValidationError as exc:
            problems = "; ".join(
                f"models.{name}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                for e in exc.errors()
            )
            raise ModelError(f"{path}: {problems}") from exc
    return specs


@lru_cache(maxsize=64)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    """sha256 of a file, cached while its size and mtime stay the same."""
    st = path.stat()
    return _sha256_cached(str(path), st.st_size, st.st_mtime_ns)


class Registry:
    """All models named by the manifests on the search path (earlier directories win)."""

    def __init__(self, dirs: list[Path] | None = None) -> None:
        self.dirs = search_path() if dirs is None else dirs
        self.specs: dict[str, ModelSpec] = {}
        for d in self.dirs:
            manifest = d / MANIFEST_NAME
            if manifest.is_file():
                for name, spec in parse_manifest(manifest).items():
                    self.specs.setdefault(name, spec)

    def names(self, *, detectors_only: bool = False) -> list[str]:
        """Registered model names, sorted."""
        return sorted(n for n, s in self.specs.items() if s.is_detector or not detectors_only)

    def locate(self, spec: ModelSpec) -> Path | None:
        """First file on the search path matching the entry's file name, if any."""
        if spec.file is None:
            return None
        for d in self.dirs:
            candidate = d / spec.file
            if candidate.is_file():
                return candidate
        return None

    def parts(self, spec: ModelSpec) -> list[ModelSpec]:
        """The entries whose files make up spec: itself, or a two-stage entry's face model and
        classifier (which may sit in different folders of the search path)."""
        names = spec.parts()
        if not names:
            return [spec]
        missing = [n for n in names if n not in self.specs]
        if missing:
            raise ModelError(f"model {spec.name!r}: {spec.adapter} names "
                             f"{', '.join(map(repr, missing))}, which no manifest on the search "
                             f"path registers")  # fmt: skip
        return [self.specs[n] for n in names]

    def locate_parts(self, spec: ModelSpec) -> list[tuple[ModelSpec, Path | None]]:
        """Each file the entry needs and where it is (None: not found). `siaga models` and
        resolve() both look files up here, so they never disagree about a model."""
        return [(part, self.locate(part)) for part in self.parts(spec)]

    def resolve(self, name: str) -> ResolvedModel:
        """Find and verify a model by registry name."""
        spec = self.specs.get(name)
        if spec is None:
            known = ", ".join(self.names()) or "none"
            raise ModelError(f"unknown model {name!r}; registered: {known}")
        located = self.locate_parts(spec)
        for part, path in located:
            if path is None:
                where = ", ".join(str(d) for d in self.dirs)
                of = "" if part is spec else f" (part of {name!r})"
                raise ModelError(
                    f"model {part.name!r}{of}: file {part.file!r} not found in {where} "
                    "(set SIAGA_MODEL_PATH to the folder that holds it, e.g. ../shared/models)"
                )
            assert part.sha256 is not None  # every entry with a file has its sha256 (spec.py)
            verify(path, part.sha256, name=part.name)
        if not spec.family.one_file:
            return ResolvedModel(spec, None)  # its family's build resolves its (verified) parts
        return ResolvedModel(spec, located[0][1])

    def resolve_file(self, path: Path) -> ResolvedModel:
        """Identify a model file given by path: by its sha256 in the registry."""
        if not path.is_file():
            raise ModelError(f"model file {path} does not exist")
        digest = sha256_of(path)
        for spec in self.specs.values():
            if spec.sha256 == digest:
                return ResolvedModel(spec, path)
        sidecar = path.with_suffix(".toml")
        if sidecar.is_file():
            specs = parse_manifest(sidecar)
            for spec in specs.values():
                if spec.file == path.name and spec.sha256 is not None:
                    return ResolvedModel(spec, verify(path, spec.sha256, name=spec.name))
        raise ModelError(
            f"model file {path} (sha256 {digest[:12]}…) is in no manifest; describe it in "
            f"{sidecar.name} beside it with a [models.NAME] entry (adapter, input size, labels)"
        )

    def resolve_any(self, name_or_file: str) -> ResolvedModel:
        """A registry name, or a path to an .onnx file."""
        if name_or_file in self.specs:
            return self.resolve(name_or_file)
        if name_or_file.endswith(".onnx") or os.sep in name_or_file:
            return self.resolve_file(Path(name_or_file))
        return self.resolve(name_or_file)


def verify(path: Path, expected_sha256: str, *, name: str) -> Path:
    """Raise a clear ModelError when the file's sha256 is not the manifest's."""
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise ModelError(
            f"model {name!r}: {path} has sha256 {actual}, manifest says {expected_sha256}; "
            "the file is corrupt, truncated or a different model"
        )
    return path
