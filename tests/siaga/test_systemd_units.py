"""The systemd units stay parseable and hardened, and the documented single-box install starts them.

- `systemd-analyze security --offline=true` gives each unit, alone and with its credential
  drop-ins, an exposure no higher than the figure written in the unit (at most 2.0, issue 8);
  docs/deployment.md states the same figures.
- `systemd-analyze verify` is clean for each unit, alone and with each of its drop-ins applied.
- docs/deployment.md section 1 (one box, anonymous loopback broker), parsed from its code block:
  every credential file the installed units load, every config, program and model folder they
  name, and the area files of the copied central.toml are created by the procedure, and the
  configs keep their state in the units' StateDirectory= (systemd refuses to start a unit whose
  LoadCredential= file is missing: status 243/CREDENTIALS).

Offline analysis needs no running systemd (containers, CI); those tests skip where
systemd-analyze is missing or too old for --offline (systemd < 250). The docs/unit checks need
nothing but Python.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
DOCS = REPO / "docs" / "deployment.md"
NAMES = ["siaga-agent.service", "siaga-central.service", "siaga-fleet-refresh.service"]
MAX_EXPOSURE = 2.0
EXE = "/opt/siaga/venv/bin/siaga"
UNIT_DIR = PurePosixPath("/etc/systemd/system")

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (apt-get install systemd)",
)


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    cp = subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, timeout=60,
                        check=False)  # fmt: skip
    if "--offline" in args and "unrecognized option" in cp.stderr:
        pytest.skip(f"systemd-analyze too old for --offline: {cp.stderr.strip()}")
    return cp


def dropins(name: str) -> list[Path]:
    """The credential drop-ins shipped for a unit (systemd/<unit>.d/*.conf)."""
    return sorted((UNITS / f"{name}.d").glob("*.conf"))


def variants(names: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    """Each unit alone, with each of its drop-ins, and with all of them."""
    out: list[tuple[str, tuple[str, ...]]] = []
    for name in names:
        confs = tuple(p.name for p in dropins(name))
        out += [(name, ()), *((name, (c,)) for c in confs)]
        out += [(name, confs)] if len(confs) > 1 else []
    return out


def staged(tmp_path: Path, name: str, confs: tuple[str, ...] = ()) -> Path:
    """A copy of the unit (and the chosen drop-ins beside it, where systemd-analyze finds them)
    whose ExecStart= programs exist: verify checks that they do, so they point at a stand-in."""
    exe = tmp_path / "siaga"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    text = (UNITS / name).read_text()
    assert EXE in text
    unit = tmp_path / name
    unit.write_text(text.replace(EXE, str(exe)))
    for conf in confs:
        (tmp_path / f"{name}.d").mkdir(exist_ok=True)
        shutil.copy(UNITS / f"{name}.d" / conf, tmp_path / f"{name}.d" / conf)
    return unit


def exposure(unit: Path) -> float:
    cp = analyze("security", "--offline=true", "--no-pager", str(unit))
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", cp.stdout)
    assert m, cp.stdout[-2000:] + cp.stderr
    return float(m.group(1))


def documented_exposure(unit: Path) -> float:
    m = re.search(r"systemd-analyze security \S+`: exposure (\d+\.\d)", unit.read_text())
    assert m, f"{unit.name} must state its exposure in the '# Hardening.' comment"
    return float(m.group(1))


def docs_section(number: int) -> str:
    text = DOCS.read_text()
    start = text.index(f"\n## {number}. ")
    return text[start : text.index(f"\n## {number + 1}. ", start)]


def docs_exposure_table() -> dict[str, tuple[float, float | None]]:
    """Section 4's table: unit -> (exposure, exposure with its credential drop-ins)."""
    rows = re.findall(r"^\| (siaga-[a-z-]+)[^|]*\| (\d\.\d) \w+ \| ([^|]*) \|", docs_section(4),
                      re.M)  # fmt: skip
    table = {}
    for unit, figure, with_dropins in rows:
        m = re.match(r"(\d\.\d) ", with_dropins)
        table[f"{unit}.service"] = (float(figure), float(m.group(1)) if m else None)
    return table


def directives(text: str, key: str) -> list[str]:
    """The values of key= in a unit or drop-in (comments skipped)."""
    return [line.split("=", 1)[1].strip() for line in text.splitlines()
            if line.startswith(f"{key}=")]  # fmt: skip


# ---- systemd-analyze: exposure and syntax ----


@needs_analyze
@pytest.mark.parametrize("name", NAMES)
def test_exposure_at_most_the_documented_figure(name: str) -> None:
    unit = UNITS / name
    score, documented = exposure(unit), documented_exposure(unit)
    assert documented <= MAX_EXPOSURE
    assert score <= documented, f"{name}: exposure {score} > {documented} documented"


@needs_analyze
@pytest.mark.parametrize("name", [n for n in NAMES if dropins(n)])
def test_exposure_with_the_credential_dropins(name: str, tmp_path: Path) -> None:
    confs = tuple(p.name for p in dropins(name))
    score = exposure(staged(tmp_path, name, confs))
    documented = docs_exposure_table()[name][1]
    assert documented is not None, f"docs/deployment.md section 4: {name} with its drop-ins"
    assert score <= documented <= MAX_EXPOSURE, f"{name} + {confs}: exposure {score}"


def test_docs_state_the_units_figures() -> None:
    table = docs_exposure_table()
    assert set(table) == set(NAMES), table
    for name in NAMES:
        assert table[name][0] == documented_exposure(UNITS / name), name
        assert (table[name][1] is None) == (not dropins(name)), name


@needs_analyze
def test_ip_allow_list_dropin_as_documented(tmp_path: Path) -> None:
    section = docs_section(4)
    m = re.search(r"another step \(agent (\d\.\d), central (\d\.\d)\)", section)
    block = re.search(r"```ini\n# /etc/systemd/system/siaga-central\.service\.d/ip\.conf\n(.*?)```",
                      section, re.S)  # fmt: skip
    assert m and block, "docs/deployment.md section 4: the ip.conf drop-in and its figures"
    for name, figure in zip(NAMES[:2], m.groups(), strict=True):
        (tmp_path / name).mkdir()
        unit = staged(tmp_path / name, name)
        (tmp_path / name / f"{name}.d").mkdir()
        (tmp_path / name / f"{name}.d" / "ip.conf").write_text(block.group(1))
        assert exposure(unit) <= float(figure), name


@needs_analyze
@pytest.mark.parametrize(("name", "confs"), variants(NAMES))
def test_units_verify_clean(name: str, confs: tuple[str, ...], tmp_path: Path) -> None:
    cp = analyze("verify", str(staged(tmp_path, name, confs)))
    assert cp.returncode == 0 and not (cp.stdout + cp.stderr).strip(), cp.stdout + cp.stderr


@needs_analyze
def test_fleet_refresh_timer_is_monthly_and_catches_up(tmp_path: Path) -> None:
    timer = (UNITS / "siaga-fleet-refresh.timer").read_text()
    assert "OnCalendar=monthly" in timer and "Persistent=true" in timer  # a missed run is made up
    service = (UNITS / "siaga-fleet-refresh.service").read_text()
    assert "ExecStart=/opt/siaga/venv/bin/siaga fleet refresh" in service
    (tmp_path / "siaga-fleet-refresh.timer").write_text(timer)
    (tmp_path / "siaga-fleet-refresh.service").write_text(service.replace(EXE, "/bin/true"))
    cp = analyze("verify", str(tmp_path / "siaga-fleet-refresh.timer"))
    assert cp.returncode == 0 and not (cp.stdout + cp.stderr).strip(), cp.stdout + cp.stderr


@needs_analyze
def test_verify_would_see_a_mistake(tmp_path: Path) -> None:
    bad = tmp_path / "bad.service"
    bad.write_text("[Service]\nExecStart=/bin/true\nProtectSystem=strict\nPrivateTmpp=yes\n")
    cp = analyze("verify", str(bad))
    assert "Unknown key" in cp.stdout + cp.stderr
    # ... in a drop-in beside the unit too (what test_units_verify_clean relies on).
    bad.write_text("[Service]\nExecStart=/bin/true\n")
    (tmp_path / "bad.service.d").mkdir()
    (tmp_path / "bad.service.d" / "x.conf").write_text("[Service]\nLoadCredentiall=a:/b\n")
    cp = analyze("verify", str(bad))
    assert "x.conf:2: Unknown key 'LoadCredentiall'" in cp.stdout + cp.stderr


# ---- the units' contents ----


def test_agent_unit_keeps_what_the_agent_needs() -> None:
    text = (UNITS / "siaga-agent.service").read_text()
    for needed in ("DeviceAllow=char-video4linux rw", "SupplementaryGroups=video",
                   "StateDirectory=siaga-agent",
                   "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "Type=notify"):  # fmt: skip
        assert needed in text
    central = (UNITS / "siaga-central.service").read_text()
    for needed in ("StateDirectory=siaga-central",
                   "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "Type=notify"):  # fmt: skip
        assert needed in central
    settings = [line for line in (text + central).splitlines() if not line.startswith("#")]
    assert not [s for s in settings if s.startswith(("PrivateNetwork=yes", "IPAddressDeny="))]


@pytest.mark.parametrize("name", ["siaga-agent.service", "siaga-central.service"])
def test_credentials_come_from_dropins_only(name: str) -> None:
    # A credential in the unit itself would stop every box without that file from starting.
    assert not directives((UNITS / name).read_text(), "LoadCredential")
    loaded = {p.name: directives(p.read_text(), "LoadCredential") for p in dropins(name)}
    assert set(loaded) == {"mqtt-password.conf", "mqtt-key.conf"}
    for conf, values in loaded.items():
        # One credential per drop-in, named as the services read it (settings.credential,
        # key_file = /run/credentials/<unit>/mqtt-key), from a root-only file in /etc/siaga.
        credential = conf.removesuffix(".conf")
        assert len(values) == 1 and values[0].startswith(f"{credential}:/etc/siaga/")
        assert "[Service]" in (UNITS / f"{name}.d" / conf).read_text()


# ---- docs/deployment.md section 1, step by step ----


@dataclass
class Procedure:
    """What section 1's commands leave on the box: files (target -> source in the checkout, None
    when a command makes it), folders, and the units enabled."""

    files: dict[PurePosixPath, Path | None] = field(default_factory=dict)
    dirs: set[PurePosixPath] = field(default_factory=set)
    enabled: set[str] = field(default_factory=set)

    def copy(self, sources: list[str], dest: str, *, into: bool) -> None:
        target = PurePosixPath(dest)
        assert target.is_absolute(), dest
        for src in sources:
            where = target / PurePosixPath(src).name if into else target
            self.files[where] = REPO / src

    def installed_units(self) -> dict[PurePosixPath, Path]:
        return {t: s for t, s in self.files.items()
                if s is not None and UNIT_DIR in t.parents}  # fmt: skip


def section_one() -> Procedure:
    """Run section 1's code block on paper (unknown commands fail: teach this parser)."""
    block = re.search(r"```bash\n(.*?)```", docs_section(1), re.S)
    assert block, "docs/deployment.md section 1 has no ```bash block"
    done = Procedure()
    for line in block.group(1).replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        commands: list[list[str]] = [[]]
        for w in words:
            commands.append([]) if w == "&&" else commands[-1].append(w)
        for cmd in commands:
            cmd = cmd[1:] if cmd[:1] == ["sudo"] else cmd
            if not cmd or cmd[:2] == ["apt-get", "install"]:
                continue
            if cmd[1:3] == ["-m", "venv"]:
                venv = PurePosixPath(cmd[3])
                done.dirs.add(venv)
                done.files.update({venv / "bin/python": None, venv / "bin/pip": None})
            elif cmd[0].endswith("/bin/pip") and cmd[1] == "install":
                assert PurePosixPath(cmd[0]) in done.files, "pip of a venv made before"
                done.files[PurePosixPath(cmd[0]).parent / "siaga"] = None  # [project.scripts]
            elif cmd[:2] == ["install", "-d"]:
                done.dirs.update(PurePosixPath(d) for d in cmd[2:] if not d.startswith("-"))
            elif cmd[0] == "install":  # install [-D] [-m MODE] (-t DIR SRC… | SRC DEST)
                args, into = cmd[1:], "-t" in cmd
                for opt in ("-m", "-t"):
                    if opt in args:
                        i = args.index(opt)
                        dest = args[i + 1] if opt == "-t" else None
                        args = args[:i] + args[i + 2 :]
                        if dest:
                            args.append(dest)
                args = [a for a in args if a != "-D"]
                done.copy(args[:-1], args[-1], into=into)
            elif cmd[0] == "cp":
                dest = cmd[-1]
                into = dest.endswith("/") or PurePosixPath(dest) in done.dirs
                done.copy(cmd[1:-1], dest, into=into)
            elif cmd[0] == "systemctl":
                if "enable" in cmd:
                    done.enabled.update(w if "." in w else f"{w}.service"
                                        for w in cmd[cmd.index("enable") + 1 :]
                                        if not w.startswith("-"))  # fmt: skip
            else:
                pytest.fail(f"docs/deployment.md section 1: command not modelled here: {cmd}")
    return done


def test_section_one_installs_and_starts_both_units() -> None:
    done = section_one()
    units = {t.name: s for t, s in done.installed_units().items() if t.parent == UNIT_DIR}
    assert units == {n: UNITS / n for n in ("siaga-agent.service", "siaga-central.service")}
    assert done.enabled == set(units)


def test_section_one_creates_every_credential_the_units_load() -> None:
    """The regression of the issue: the agent unit loaded /etc/siaga/credentials/mqtt-password,
    which the single-box procedure never writes, so systemd refused to start it."""
    done = section_one()
    for target, source in done.installed_units().items():  # units and any drop-ins installed
        for value in directives(source.read_text(), "LoadCredential"):
            _, _, path = value.partition(":")
            assert PurePosixPath(path) in done.files, (
                f"{target}: LoadCredential={value}, but section 1 never creates {path}: "
                "systemd would refuse to start the unit (243/CREDENTIALS)"
            )


def test_section_one_paths_match_the_units() -> None:
    done = section_one()
    configs: dict[str, dict] = {}
    for target, source in done.installed_units().items():
        text = source.read_text()
        for cmd in directives(text, "ExecStart") + directives(text, "ExecStartPre"):
            program = PurePosixPath(cmd.lstrip("+-@!:").split()[0])
            assert program in done.files, f"{target.name}: {program} is not installed"
        env = dict(v.split("=", 1) for v in directives(text, "Environment"))
        for var, value in env.items():
            if var.endswith("_CONFIG"):
                made = done.files.get(PurePosixPath(value))
                assert made is not None, f"{target.name}: {var}={value} is not created"
                configs[target.name] = tomllib.loads(made.read_text())
            elif var == "SIAGA_MODEL_PATH":
                assert PurePosixPath(value) in done.dirs, f"{target.name}: {value}"
        state = [f"/var/lib/{d}/" for d in directives(text, "StateDirectory")]
        if target.name == "siaga-agent.service":
            assert configs[target.name]["outbox"]["path"].startswith(state[0])
        if target.name == "siaga-central.service":
            cfg = configs[target.name]
            written = [cfg["storage"]["url"].removeprefix("sqlite:///"),
                       cfg["report"]["output_dir"], cfg["opendata"]["output_dir"]]  # fmt: skip
            assert all(w.startswith(state[0]) for w in written), (written, state)
            # Set [areas] paths keep the unit's SIAGA_SHARED fallback out of play: each must exist.
            for key in ("wilayah_csv", "kelurahan_geojson", "cameras_file"):
                path = cfg["areas"][key]
                assert PurePosixPath(path) in done.files, f"[areas] {key} = {path} is not created"
    assert set(configs) == {"siaga-agent.service", "siaga-central.service"}
