"""`siaga models` and `check-config` find a model's files with one lookup, so they agree, also
about a two-stage model whose parts lie in different folders of the search path."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.registry import PROJECT_MODELS_DIR, ModelError, Registry
from siaga.cli import main

AGENT = """
[agent]
id = "box-01"
site = "Pasar Johar"
kelurahan_code = "33.74.03.1006"

[[cameras]]
id = "cam1"
source = "synthetic:frames=10"

[model]
name = "yunet_maskcls"

[outbox]
path = "{tmp}/outbox.sqlite3"
"""


def models_line(capsys: pytest.CaptureFixture[str], name: str) -> str:
    assert main(["models"]) == 0
    return next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(name + " "))


def check_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    f = tmp_path / "agent.toml"
    f.write_text(AGENT.format(tmp=tmp_path))
    code = main(["agent", "check-config", "--config", str(f)])
    return code, capsys.readouterr().err


def test_two_stage_parts_in_two_folders_found_by_both(
    shared: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("SIAGA_MODEL_PATH", str(shared / "models"))
    line = models_line(capsys, "yunet_maskcls")
    assert "NOT FOUND" not in line
    assert str(shared / "models" / "yunet_s_dynamic.onnx") in line  # the face model: shared
    assert str(PROJECT_MODELS_DIR / "siaga_maskcls_v1.onnx") in line  # the classifier: here
    code, err = check_config(tmp_path, capsys)
    assert code == 0 and "configuration OK" in err, err


def test_a_missing_part_is_missing_for_both(tmp_path: Path, monkeypatch, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("SIAGA_MODEL_PATH", str(empty))
    line = models_line(capsys, "yunet_maskcls")
    assert "NOT FOUND: yunet_s_dynamic.onnx" in line
    code, err = check_config(tmp_path, capsys)
    assert code == 2 and "'yunet_s_dynamic' (part of 'yunet_maskcls')" in err
    assert "'yunet_s_dynamic.onnx' not found" in err


def test_parts_of_an_unregistered_name_are_refused() -> None:
    reg = Registry([PROJECT_MODELS_DIR])
    spec = reg.specs["yunet_maskcls"]
    located = reg.locate_parts(reg.specs["siaga_maskcls_v1"])
    assert [(s.name, p) for s, p in located] == [
        ("siaga_maskcls_v1", PROJECT_MODELS_DIR / "siaga_maskcls_v1.onnx")
    ]
    reg.specs.pop("yunet_s_dynamic", None)
    with pytest.raises(ModelError, match="no manifest on the search path registers"):
        reg.locate_parts(spec)
