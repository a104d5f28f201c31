"""The agent daemon: cameras → counts → outbox → broker, supervised by systemd."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2

from agent.calibration_file import load_calibration
from agent.config import AgentConfig, CameraSection
from agent.counter import Window
from agent.filters import FaceFilter
from agent.health import HealthReporter, Watched
from agent.holding import Held, Holding
from agent.outbox import Outbox, Stamp
from agent.publisher import Publisher
from agent.worker import CameraWorker
from models.adapters import Adapter, MaskClassifier
from models.detector import load_classifier, load_detector
from models.registry import Registry, search_path
from models.runtime import RuntimeConfig
from siaga.sdnotify import Notifier
from siaga.wire import CameraCalibration, CountsMessage, ModelInfo, counts_topic

log = logging.getLogger(__name__)
SHUTDOWN_BUDGET_S = 4.5  # systemd and the issue allow 5 s from SIGTERM to exit


def inference_threads(configured: int | None, cameras: int, cores: int) -> int:
    """onnxruntime threads per inference: as configured, else one per run where the cameras
    are at least as many as the cores, else the cores shared out among them (at most 4).

    Why one: the detector session is shared, so with a camera per core the runs already go in
    parallel, and a second thread per run only hands work over. Measured with 14 cameras of 720p
    on the quiet 2-core dev VM (two runs): 0.122 cores per camera with one thread against 0.128
    with two, the pool thread's CPU gone (issue 18). Few cameras on many cores: threads cut
    the run's latency, which a slow box needs to hold its detect fps."""
    if configured is not None:
        return configured
    return 1 if cameras >= cores else min(4, cores // max(1, cameras))


def box_cores() -> int:
    """The cores this process may run on (a systemd CPUAffinity or a container limits them)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _registry_runtime(cfg: AgentConfig) -> tuple[Registry, RuntimeConfig]:
    registry = Registry(search_path() + [Path(p) for p in cfg.model.search_path])
    # No spinning: the agent's runs come a few times a second per camera, and spinning pool
    # threads between them doubled the CPU per inference (models/runtime.py).
    threads = inference_threads(cfg.model.intra_op_threads, len(cfg.cameras), box_cores())
    runtime = RuntimeConfig(
        intra_op_threads=threads,
        providers=tuple(cfg.model.providers),
        allow_spinning=False,
    )
    return registry, runtime


def single_threaded_opencv() -> None:
    """Run OpenCV's own loops (resize, colour conversion) in the calling thread. An agent's
    parallelism is its cameras, one thread each; OpenCV's pool on top of that cost 60 % more CPU
    per resize (1.15 vs 0.71 ms per frame to 640x480, issue 18) in hand-offs between threads."""
    cv2.setNumThreads(1)


def build_detector(cfg: AgentConfig) -> Adapter:
    """Load the configured model once; all cameras share its sessions."""
    registry, runtime = _registry_runtime(cfg)
    return load_detector(cfg.model.name, runtime=runtime, registry=registry)


def build_second_opinion(cfg: AgentConfig) -> MaskClassifier | None:
    """The judgement's face-crop classifier (agent/judge.py), shared by all cameras; None: off."""
    if not cfg.judging.enabled or not cfg.judging.second_opinion:
        return None
    registry, runtime = _registry_runtime(cfg)
    return load_classifier(cfg.judging.second_opinion, runtime=runtime, registry=registry)


def model_info(detector: Adapter) -> ModelInfo:
    """The model fields every counts message carries."""
    spec = detector.spec
    return ModelInfo(name=spec.name, version=spec.version, sha256=detector.fingerprint())


@dataclass(frozen=True)
class CameraSetup:
    """What a camera's calibration decides: its filter, detector floor and version."""

    face_filter: FaceFilter
    detect_conf: float
    calibration_version: str | None
    calibration: CameraCalibration | None = None  # what the status reports (version, confusion)


def camera_setup(camera: CameraSection, model_conf: float) -> CameraSetup:
    """The camera's filter from its config, overridden by its calibration file when set."""
    thresholds: dict[str, float] = {"mask": model_conf, "no_mask": model_conf}
    zones_in, zones_out = camera.include_zones, camera.exclude_zones
    min_px, max_px = camera.min_face_px, camera.max_face_px
    version, reported = None, None
    if camera.calibration_file is not None:
        cal = load_calibration(camera.calibration_file, camera_id=camera.id)
        thresholds.update({str(k): v for k, v in cal.thresholds.items()})
        zones_in = cal.include_zones if cal.include_zones is not None else zones_in
        zones_out = cal.exclude_zones if cal.exclude_zones is not None else zones_out
        min_px, max_px = cal.min_face_px or min_px, cal.max_face_px or max_px
        version = cal.version
        reported = CameraCalibration(version=cal.version, confusion=cal.confusion)
    ff = FaceFilter(
        include_zones=zones_in,
        exclude_zones=zones_out,
        min_face_px=min_px,
        max_face_px=max_px,
        thresholds=thresholds,
    )
    # The detector runs at the lowest class threshold; the filter then applies each class's own.
    return CameraSetup(ff, min(thresholds.values()), version, reported)


class AgentService:
    """Owns the detector, the outbox, the publisher and one worker per enabled camera."""

    def __init__(self, cfg: AgentConfig, *, notifier: Notifier | None = None) -> None:
        self.cfg = cfg
        self.started_mono = time.monotonic()
        single_threaded_opencv()
        self.detector = build_detector(cfg)
        self.model = model_info(self.detector)
        self.second_opinion = build_second_opinion(cfg)
        conf = cfg.model.conf_threshold or self.detector.spec.conf_threshold
        self.outbox = Outbox(cfg.outbox.path, max_messages=cfg.outbox.max_messages)
        # Windows wait here while the outbox cannot be written (agent/holding.py).
        self.holding = Holding(on_written=self._queued, max_held=cfg.outbox.max_held)
        self.publisher = Publisher(cfg.mqtt, agent_id=cfg.agent.id, outbox=self.outbox)
        self.notifier = notifier or Notifier()
        self.calibration: dict[str, str | None] = {}
        self.calibration_reported: dict[str, CameraCalibration | None] = {}
        self.workers: list[CameraWorker] = []
        for cam in cfg.cameras:
            if not cam.enabled:
                continue
            setup = camera_setup(cam, conf)
            self.calibration[cam.id] = setup.calibration_version
            self.calibration_reported[cam.id] = setup.calibration
            self.workers.append(
                CameraWorker(
                    cfg,
                    cam,
                    self.detector,
                    setup.face_filter,
                    self.emit,
                    detect_conf=setup.detect_conf,
                    classifier=self.second_opinion,
                )
            )
        self.health = HealthReporter(
            Watched(
                agent_id=cfg.agent.id, settings=cfg.health, judging=cfg.judging.enabled,
                confirm_central=cfg.mqtt.confirm == "central", model=self.model,
                started_mono=self.started_mono, workers=self.workers, outbox=self.outbox,
                holding=self.holding, publisher=self.publisher, notifier=self.notifier,
                calibration=self.calibration_reported,
            )
        )  # fmt: skip
        self._stop = threading.Event()

    def emit(self, camera: CameraSection, window: Window) -> None:
        """Queue one closed window durably; the publisher delivers it when it can. While the
        outbox cannot be written the window waits in memory, and gets its seq when it is."""

        # With confirm = "broker" the message is what centrals before epochs accept.
        stamped = self.cfg.mqtt.confirm == "central"
        # Judging off: the message centrals before judgement (siaga.wire) accept, all judged.
        judging = self.cfg.judging.enabled

        def build(st: Stamp) -> bytes:
            return CountsMessage(
                agent_id=self.cfg.agent.id, seq=st.seq, camera_id=camera.id,
                site=self.cfg.agent.site, kelurahan_code=self.cfg.camera_kelurahan(camera),
                window_start=window.start, window_end=window.end,
                people_seen=window.people_seen, masked=window.masked, unmasked=window.unmasked,
                occupancy_mean=round(window.occupancy_mean, 3), occupancy_max=window.occupancy_max,
                frames_processed=window.frames_processed, frames_inferred=window.frames_inferred,
                model=self.model, calibration_version=self.calibration.get(camera.id),
                epoch=st.epoch if stamped else None,
                first_unconfirmed=st.first_unconfirmed if stamped else None,
                not_judged=window.not_judged if judging else None,
                suitable=window.suitable if judging else None,
            ).to_payload()  # fmt: skip

        topic = counts_topic(self.cfg.agent.id, camera.id, self.cfg.mqtt.topic_prefix)
        what = (f"camera {camera.id}: window {window.start.isoformat()}–{window.end.isoformat()} "
                f"people {window.people_seen} (masked {window.masked}, unmasked "
                f"{window.unmasked}, not judged {window.not_judged})")  # fmt: skip
        self.holding.put(Held(lambda: self.outbox.enqueue_stamped(topic, build), what))

    def _queued(self, item: Held, seq: int, late: bool) -> None:
        """A window reached the outbox: log it (quietly when a recovery writes many), send it."""
        log.log(logging.DEBUG if late else logging.INFO, "%s queued as seq %d", item.what, seq)
        self.publisher.notify()

    def stop(self) -> None:
        """Request a clean shutdown (signal handlers call this)."""
        self._stop.set()

    def run(self, *, exit_when_sources_end: bool = False) -> int:
        """Run until stopped (or, for file demos, until every file has been played)."""
        self.publisher.start()
        for w in self.workers:
            w.start()
        self.notifier.ready(f"{len(self.workers)} cameras, model {self.model.name}")
        log.info(
            "agent %s running: %d cameras, model %s",
            self.cfg.agent.id,
            len(self.workers),
            self.model.name,
        )
        try:
            while not self._stop.wait(1.0):
                self.health.tick()
                if exit_when_sources_end and all(w.finished for w in self.workers):
                    log.info("every source has ended; shutting down")
                    break
        finally:
            self.shutdown()
        return 0

    def shutdown(self) -> None:
        """Stop workers (their last windows are queued), flush, say offline, all within 5 s."""
        deadline = time.monotonic() + SHUTDOWN_BUDGET_S
        self.notifier.stopping()
        for w in self.workers:
            w.stop()
        for w in self.workers:
            w.join(timeout_s=max(0.1, min(1.5, deadline - time.monotonic() - 2.0)))
        self.holding.close(timeout_s=max(0.1, min(0.5, deadline - time.monotonic() - 2.0)))
        self.health.publish()
        self.publisher.stop(timeout_s=max(0.5, deadline - time.monotonic()))
        self.outbox.close()
        self.health.close()
        log.info("agent %s stopped", self.cfg.agent.id)
