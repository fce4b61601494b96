"""Stage supervision with a fake clock: backoff that doubles up to its limit, frames skipped while
waiting, each kind of failure logged once, the recovery said once."""

from __future__ import annotations

import logging

from edge_agent.supervise import RECOVERED_AFTER_S, StageSupervisor
from edge_agent.timing import StageFailure


def _failure(stage: str = "faces", error: Exception | None = None) -> StageFailure:
    return StageFailure(stage, error or RuntimeError("boom"))


def test_a_single_failure_is_retried_at_once_and_repeats_back_off_up_to_the_limit(caplog) -> None:
    now = [0.0]
    sup = StageSupervisor("door", initial_s=1.0, max_s=8.0, clock=lambda: now[0])
    waits = []
    with caplog.at_level(logging.DEBUG):
        for _ in range(7):
            waits.append(sup.failed(_failure()))
            sup.rebuilt()
            assert sup.skip() is (waits[-1] > 0)
            now[0] += waits[-1]  # the wait runs out: the next frame is analysed, and fails again
            assert not sup.skip()
    assert waits == [0.0, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert sup.errors == 7 and sup.problem() == "faces stage failing"
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.levelno for r in loud] == [logging.ERROR, logging.WARNING]  # the traceback once, "keeps failing" once
    assert loud[0].exc_info is not None and "camera door: stage faces failed (RuntimeError: boom)" in loud[0].getMessage()


def test_after_a_quiet_minute_the_backoff_starts_over_and_the_recovery_is_said_once(caplog) -> None:
    now = [0.0]
    sup = StageSupervisor("door", initial_s=1.0, max_s=8.0, clock=lambda: now[0])
    sup.failed(_failure())
    now[0] += 1
    assert sup.failed(_failure()) == 1.0
    now[0] += RECOVERED_AFTER_S + 1
    with caplog.at_level(logging.INFO):
        sup.ran_clean()
        sup.ran_clean()
    assert [r.getMessage() for r in caplog.records].count(
        "camera door: pipeline running again without stage errors (2 so far)") == 1
    assert sup.problem() is None and sup.failed(_failure()) == 0.0  # a fresh start: retried at once


def test_each_kind_of_failure_is_logged_loudly_once(caplog) -> None:
    now = [0.0]
    sup = StageSupervisor("door", clock=lambda: now[0])
    with caplog.at_level(logging.ERROR):
        for stage, error in [("faces", ValueError("x")), ("faces", ValueError("y")), ("reid", KeyError(3)),
                             ("faces", ValueError("z"))]:
            sup.failed(_failure(stage, error))
            now[0] += 100  # apart enough to be retried at once each time
    assert [r.getMessage().split(" (")[0] for r in caplog.records if r.levelno == logging.ERROR] == [
        "camera door: stage faces failed", "camera door: stage reid failed"]
    assert sup.errors == 4
