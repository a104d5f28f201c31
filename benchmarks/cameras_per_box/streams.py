"""Live camera streams for the benchmark: one `ffmpeg -re … -c copy -listen 1` server per camera.

Why ffmpeg with `-c copy`: a camera sends an already-encoded H.264 stream in real time; copying
the clip's packets into MPEG-TS at its own pace (`-re`, looped) does the same at almost no CPU,
so the box under test (which shares this machine's cores with the servers) pays for decoding
and nothing the servers do. Each server's log is checked for the `(copy)` stream mapping and
its CPU is measured and reported apart from the agent's.

Why one process per stream: `-listen 1` serves one client, which is what a camera's stream is to
the agent; a server ends when its client goes, so every benchmark step starts fresh ones.

RTSP (a variant named `…/rtsp`): Debian's rtsp-server-perl relays streams that ffmpeg publishes
to it (ANNOUNCE/RECORD, `-c copy`) to the agent, over RTP on UDP only (it refuses interleaved
TCP, which OpenCV asks for by default: the agent then runs with
OPENCV_FFMPEG_CAPTURE_OPTIONS=rtsp_transport;udp, as a technician would set for such a camera).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from benchmarks.cameras_per_box.procstat import cpu_seconds
from tests.mqtt_broker import free_port

CLIP = "video/gituatu_nomask.mp4"  # 1280x720, 25 fps, H.264, 8.2 s (looped)
START_TIMEOUT_S = 15.0
RTSP_SERVER = "/usr/bin/rtsp-server-perl"  # Debian package rtsp-server-perl
RTSP_AGENT_ENV = {"OPENCV_FFMPEG_CAPTURE_OPTIONS": "rtsp_transport;udp"}


@dataclass(frozen=True)
class Variant:
    """One kind of camera stream: a clip served as-is (every variant is H.264)."""

    name: str
    path: Path
    width: int
    height: int
    fps: float
    transport: str = "http"  # or "rtsp"


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
        kind, _, transport = name.partition("/")
        if transport not in ("", "http", "rtsp"):
            raise SystemExit(f"variant {name}: transport must be http or rtsp")
        if transport == "rtsp" and not Path(RTSP_SERVER).exists():
            raise SystemExit(f"variant {name}: {RTSP_SERVER} not found (apt-get install "
                             "rtsp-server-perl)")  # fmt: skip
        height_s, _, fps_s = kind.partition("p")
        height, fps = int(height_s), float(fps_s or fps0)
        if (height, fps) == (h0, fps0):
            out.append(Variant(name, clip, w0, h0, fps0, transport or "http"))
            continue
        width = round(w0 * height / h0 / 2) * 2
        path = workdir / f"substream_{kind}.mp4"
        if not path.exists():
            subprocess.run(
                [ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i",
                 str(clip), "-vf", f"scale={width}:{height}", "-r", f"{fps:g}", "-an",
                 "-c:v", "libx264", "-profile:v", "main", "-preset", "veryfast", "-crf", "23",
                 "-bf", "0", "-g", str(round(2 * fps)), str(path)],
                check=True, timeout=300,
            )  # fmt: skip
        out.append(Variant(name, path, *probe(path), transport or "http"))
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
        self.rtsp_urls: list[str] = []

    @property
    def urls(self) -> list[str]:
        return self.rtsp_urls or [f"http://127.0.0.1:{p}" for p in self.ports]

    @property
    def agent_env(self) -> dict[str, str]:
        """What the agent's environment needs to read these streams."""
        return dict(RTSP_AGENT_ENV) if self.variant.transport == "rtsp" else {}

    def _spawn(self, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as err:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err, start_new_session=True)  # fmt: skip
        self.procs.append(proc)
        return proc

    def start(self) -> StreamServers:
        self.logdir.mkdir(parents=True, exist_ok=True)
        source = [
            "-hide_banner",
            "-nostdin",
            "-nostats",
            "-loglevel",
            "info",
            "-re",
            "-stream_loop",
            "-1",
            "-i",
            str(self.variant.path),
            "-an",
            "-c",
            "copy",
        ]
        if self.variant.transport == "rtsp":
            return self._start_rtsp(source)
        for i in range(self.n):
            port = free_port()
            log = self.logdir / f"server{i:02d}.log"
            self._spawn([ffmpeg(), *source, "-f", "mpegts", "-listen", "1",
                         f"http://127.0.0.1:{port}"], log)  # fmt: skip
            self.ports.append(port)
            self.logs.append(log)
        self._wait(lambda i: listening(self.ports[i]))
        return self

    def _start_rtsp(self, source: list[str]) -> StreamServers:
        """One relay for all N; ffmpeg publishes each stream to it over UDP."""
        client, publish = free_port(), free_port()
        self._spawn([RTSP_SERVER, "--clientport", str(client), "--serverport", str(publish),
                     "--client_listen_address", "127.0.0.1", "--source_listen_address",
                     "127.0.0.1", "--loglevel", "2", "--max_clients", str(self.n + 8)],
                    self.logdir / "rtsp-server.log")  # fmt: skip
        self._wait_for(lambda: listening(client) and listening(publish), self.procs[0],
                       self.logdir / "rtsp-server.log")  # fmt: skip
        for i in range(self.n):
            log = self.logdir / f"server{i:02d}.log"
            self._spawn([ffmpeg(), *source, "-f", "rtsp",
                         f"rtsp://127.0.0.1:{publish}/cam{i:02d}"], log)  # fmt: skip
            self.logs.append(log)
        self.rtsp_urls = [f"rtsp://127.0.0.1:{client}/cam{i:02d}" for i in range(self.n)]
        # Publishing has begun once ffmpeg prints its stream mapping (after RECORD is accepted).
        self._wait(lambda i: "(copy)" in self.logs[i].read_text(errors="replace"), first=1)
        return self

    def _wait(self, ready: Callable[[int], bool], first: int = 0) -> None:
        for i in range(len(self.logs)):
            self._wait_for(lambda i=i: ready(i), self.procs[first + i], self.logs[i])  # type: ignore[misc]

    def _wait_for(self, ready: Callable[[], bool], proc: subprocess.Popen[bytes],
                  log: Path) -> None:  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-500:]
                raise RuntimeError(f"stream server did not start ({log.name}): {tail}")
            time.sleep(0.05)

    def cpu_seconds(self) -> float:
        """CPU used so far by every server (user + system)."""
        return sum(cpu_seconds(p.pid) for p in self.procs if p.poll() is None)

    def copied(self) -> bool:
        """Every server maps its stream as `(copy)`: nothing is decoded or re-encoded."""
        return all("(copy)" in log.read_text(errors="replace") for log in self.logs)

    def alive(self) -> int:
        """Stream processes still running (the RTSP relay not counted)."""
        return sum(p.poll() is None for p in self.procs[len(self.procs) - len(self.logs) :])

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
