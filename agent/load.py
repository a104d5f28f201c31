"""Overload: a camera whose reached detect fps falls below 90 % of its setting.

Why: a box given more cameras than its CPU can serve does not fail, it samples fewer frames
than asked, and fewer sightings per person mean missed people and fewer mask judgements, with
nothing in the counts to say so. The health reporter (agent/health.py) feeds this once a second;
the status carries each camera's reached rate and the flag, and the log warns once per episode
and says when it is over.

The rate is taken over a sliding window (`[health] overload_window_s`, 30 s) and judged only
once a whole window has passed since the camera's first processed frame, so start-up (model
warm-up, opening the stream) is no overload. A camera that is not delivering (disconnected,
reconnecting, a file that ended) is not overloaded either: its window starts again when it comes
back. Expected is the setting, or the stream's own frame rate where that is lower.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

log = logging.getLogger(__name__)
OVERLOAD_SHARE = 0.9  # below this share of the setting: overloaded (issue 18)
RECOVER_SHARE = 0.95  # back above this: recovered (a margin, so a rate near 90 % does not flap)


@dataclass(frozen=True)
class Observation:
    """One camera at one moment, as the reporter sees it."""

    now_mono: float
    processed: int  # frames the worker has looked at so far
    interruptions: int  # reconnects + stalls so far: a change restarts the window
    live: bool  # connected and not finished
    nominal_fps: float = 0.0  # the stream's declared frame rate (0: unknown)


class LoadWatch:
    """One camera's reached detect fps and overload episodes."""

    def __init__(self, camera_id: str, detect_fps: float, window_s: float) -> None:
        self.camera_id = camera_id
        self.detect_fps = detect_fps
        self.window_s = window_s
        self.overloaded = False
        self.reached_fps: float | None = None  # over the last window; None before a whole one
        self._samples: deque[tuple[float, int]] = deque()
        self._interruptions = -1
        self._episodes = 0

    @property
    def episodes(self) -> int:
        """Overload episodes so far."""
        return self._episodes

    def expected(self, nominal_fps: float) -> float:
        """The rate the camera should reach: its setting, or the stream's rate if lower."""
        return min(self.detect_fps, nominal_fps) if nominal_fps > 0 else self.detect_fps

    def observe(self, obs: Observation) -> None:
        """Add one observation; log when an episode starts or ends."""
        if not obs.live or obs.interruptions != self._interruptions:
            self._interruptions = obs.interruptions
            self._samples.clear()  # not delivering: no judgement, and a fresh window after
            self.reached_fps = None
            if not obs.live:
                return
        samples = self._samples
        if not samples or (samples[0][1] == obs.processed and len(samples) == 1):
            # The window starts at the first processed frame, not at the open.
            samples.clear()
            samples.append((obs.now_mono, obs.processed))
            return
        samples.append((obs.now_mono, obs.processed))
        while len(samples) > 2 and obs.now_mono - samples[1][0] >= self.window_s:
            samples.popleft()
        t0, n0 = samples[0]
        span = obs.now_mono - t0
        if span >= self.window_s:
            self.reached_fps = (obs.processed - n0) / span
            self._judge(self.reached_fps, self.expected(obs.nominal_fps))

    def _judge(self, rate: float, expected: float) -> None:
        if not self.overloaded and rate < OVERLOAD_SHARE * expected:
            self.overloaded = True
            self._episodes += 1
            log.warning(
                "camera %s: OVERLOADED: %.1f of %.1f detect fps reached over the last %.0f s "
                "(under 90 %%): the box cannot keep up; serve fewer cameras, lower detect_fps "
                "or use a substream (docs/deployment.md, sizing)",
                self.camera_id, rate, expected, self.window_s,
            )  # fmt: skip
        elif self.overloaded and rate >= RECOVER_SHARE * expected:
            self.overloaded = False
            log.warning(
                "camera %s: keeps up again: %.1f of %.1f detect fps over the last %.0f s",
                self.camera_id, rate, expected, self.window_s,
            )  # fmt: skip
