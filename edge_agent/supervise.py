"""Supervision of one camera's pipeline: a failing stage never stops a camera silently.

An exception in any stage leaves the pipeline as one StageFailure naming the stage
(edge_agent/timing.py). The supervisor counts it (live health `stage_errors`), logs it once per
kind with camera, stage and traceback (a repeat goes to DEBUG: no traceback per frame), and the
caller rebuilds the pipeline with its open window kept (PipelineFactory.rebuild). The first
failure after a quiet spell is retried at once; a stage that keeps failing is retried with
exponential backoff, and the frames that arrive meanwhile are not analysed: they only move the
windows on (`CameraPipeline.skip`), their time counted as gap seconds, so a camera whose stage
never recovers still delivers every window, marked as not watched. After RECOVERED_AFTER_S without a failure the backoff
starts over and the recovery is logged once.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from edge_agent.timing import StageFailure

log = logging.getLogger(__name__)

RECOVERED_AFTER_S = 60.0  # a failure this long after the last one is a fresh start, not a repeat
QUIET_S = 3600.0  # the same kind of failure is logged loudly again after this long


class StageSupervisor:
    """`failed(failure)` after each StageFailure; `skip()` says whether the next frame waits out a backoff."""

    def __init__(self, camera_id: str, *, initial_s: float = 1.0, max_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.camera_id = camera_id
        self.errors = 0
        self.last_stage: str | None = None
        self._initial_s, self._max_s = initial_s, max_s
        self._clock = clock
        self._delay = 0.0
        self._resume_at = -math.inf
        self._last_failure = -math.inf
        self._logged: dict[tuple[str, str], float] = {}
        self._told_max = False

    def failed(self, failure: StageFailure) -> float:
        """Count and log one failure; returns the seconds the rebuilt pipeline waits before new frames."""
        now = self._clock()
        repeat = now - self._last_failure < RECOVERED_AFTER_S
        self._delay = min(max(2 * self._delay, self._initial_s), self._max_s) if repeat else 0.0
        self.errors += 1
        self.last_stage = failure.stage
        self._last_failure, self._resume_at = now, now + self._delay
        self._log(failure, now)
        return self._delay

    def _log(self, failure: StageFailure, now: float) -> None:
        kind = (failure.stage, type(failure.cause).__name__)
        last = self._logged.get(kind)
        if last is None or now - last >= QUIET_S:
            self._logged[kind] = now
            log.error("camera %s: stage %s failed (%s: %s); rebuilding the pipeline with its open window kept, "
                      "the other cameras keep running", self.camera_id, failure.stage, kind[1], failure.cause,
                      exc_info=failure.cause)
        elif self._delay >= self._max_s and not self._told_max:
            self._told_max = True
            log.warning("camera %s: stage %s keeps failing (%d errors so far); retrying every %g s",
                        self.camera_id, failure.stage, self.errors, self._max_s)
        else:
            log.debug("camera %s: stage %s failed again (%d errors): %s", self.camera_id, failure.stage,
                      self.errors, failure.cause)

    def rebuilt(self) -> None:
        """The rebuilt pipeline is ready: its wait starts now (a rebuild loads models, which takes time)."""
        self._resume_at = self._clock() + self._delay

    def skip(self) -> bool:
        """True while backing off: the frame is not analysed (its time becomes a gap)."""
        return self._clock() < self._resume_at

    def ran_clean(self) -> None:
        """After a frame went through: once the failures are well past, say so once and start over."""
        if self._delay == 0.0 and not self._told_max or self._clock() - self._last_failure < RECOVERED_AFTER_S:
            return
        log.info("camera %s: pipeline running again without stage errors (%d so far)", self.camera_id, self.errors)
        self._delay, self._told_max = 0.0, False

    def problem(self) -> str | None:
        """A label for live health while the camera is failing; None once it ran clean for a while."""
        if self.last_stage is not None and self._clock() - self._last_failure < RECOVERED_AFTER_S:
            return f"{self.last_stage} stage failing"
        return None
