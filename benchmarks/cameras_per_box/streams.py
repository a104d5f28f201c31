"""Live camera streams for the benchmark: one `ffmpeg -re … -c copy -listen 1` server per camera.

Why ffmpeg with `-c copy`: a camera sends an already-encoded H.264 stream in real time; copying
the clip's packets into MPEG-TS at its own pace (`-re`, looped) does the same at almost no CPU,
so the box under test (which shares this machine's cores with the servers) pays for decoding
and nothing the servers do. Each server's log is checked for the `(copy)` stream mapping and
its CPU is measured and reported apart from the agent's.

Why one process per stream: `-listen 1` serves one client, which is what a camera's stream is to
the agent; a server ends when its client goes, so every benchmark step starts fresh ones.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from benchmarks.cameras_per_box.procstat import cpu_seconds
from tests.mqtt_broker import free_port

CLIP = "video/gituatu_nomask.mp4"  # 1280x720, 25 fps, H.264, 8.2 s (looped)
START_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Variant:
    """One kind of camera stream: a clip served as-is (every variant is H.264)."""

    name: str
    path: Path
    width: int
    height: int
    fps: float


def ffmpeg() -> str:
    """The ffmpeg executable, or a clear error."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise SystemExit("ffmpeg not found (make sysdeps installs it: apt-get install ffmpeg)")
    return exe


def probe(path: Path) -> tuple[int, int, float]:
    """Width, height and frame rate of a video's first stream (ffprobe)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=width,height,r_frame_rate", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.strip()  # fmt: skip
    w, h, rate = out.split(",")[:3]
    num, _, den = rate.partition("/")
    return int(w), int(h), float(num) / float(den or 1)


def make_variants(shared: Path, workdir: Path, names: list[str]) -> list[Variant]:
    """The clip as a 720p25 main stream, and re-encoded once (into workdir, never the repo) as
    substreams named `<height>p<fps>`, e.g. 360p25 (640x360) or 360p15, as cameras offer them.

    Substreams are H.264 main profile, a 2 s GOP and no B-frames, like a camera's encoder."""
    clip = shared / CLIP
    if not clip.is_file():
        raise SystemExit(f"{clip} not found: set SIAGA_SHARED to the shared data folder")
    w0, h0, fps0 = probe(clip)
    out: list[Variant] = []
    for name in names:
        height_s, _, fps_s = name.partition("p")
        height, fps = int(height_s), float(fps_s or fps0)
        if (height, fps) == (h0, fps0):
            out.append(Variant(name, clip, w0, h0, fps0))
            continue
        width = round(w0 * height / h0 / 2) * 2
        path = workdir / f"substream_{name}.mp4"
        subprocess.run(
            [ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(clip),
             "-vf", f"scale={width}:{height}", "-r", f"{fps:g}", "-an", "-c:v", "libx264",
             "-profile:v", "main", "-preset", "veryfast", "-crf", "23", "-bf", "0",
             "-g", str(round(2 * fps)), str(path)],
            check=True, timeout=300,
        )  # fmt: skip
        out.append(Variant(name, path, *probe(path)))
    return out


def listening(port: int) -> bool:
    """True once something listens on 127.0.0.1:port (read from /proc/net/tcp, because a test
    connection would be taken as the server's one client)."""
    want = f"0100007F:{port:04X}"
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1] == want and fields[3] == "0A":  # 0A: LISTEN
                return True
    return False


class StreamServers:
    """N ffmpeg servers of one variant on loopback; a context manager that always ends them."""

    def __init__(self, variant: Variant, n: int, logdir: Path) -> None:
        self.variant, self.n, self.logdir = variant, n, logdir
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ports: list[int] = []
        self.logs: list[Path] = []

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.ports]

    def start(self) -> StreamServers:
        self.logdir.mkdir(parents=True, exist_ok=True)
        exe = ffmpeg()
        for i in range(self.n):
            port = free_port()
            log = self.logdir / f"server{i:02d}.log"
            with log.open("wb") as err:
                self.procs.append(subprocess.Popen(
                    [exe, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", "-re",
                     "-stream_loop", "-1", "-i", str(self.variant.path), "-an", "-c", "copy",
                     "-f", "mpegts", "-listen", "1", f"http://127.0.0.1:{port}"],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                    start_new_session=True,
                ))  # fmt: skip
            self.ports.append(port)
            self.logs.append(log)
        deadline = time.monotonic() + START_TIMEOUT_S
        for proc, port, log in zip(self.procs, self.ports, self.logs, strict=True):
            while not listening(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-500:]
                    raise RuntimeError(f"ffmpeg server on port {port} did not start: {tail}")
                time.sleep(0.05)
        return self

    def cpu_seconds(self) -> float:
        """CPU used so far by every server (user + system)."""
        return sum(cpu_seconds(p.pid) for p in self.procs if p.poll() is None)

    def copied(self) -> bool:
        """Every server maps its stream as `(copy)`: nothing is decoded or re-encoded."""
        return all("(copy)" in log.read_text(errors="replace") for log in self.logs)

    def alive(self) -> int:
        return sum(p.poll() is None for p in self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def __enter__(self) -> StreamServers:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
