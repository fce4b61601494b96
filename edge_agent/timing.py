"""Per-stage wall-clock timing for the pipeline and its benchmark, and which stage failed.

Every stage of a camera pipeline runs inside `StageTimes.stage(name)`, so an exception escaping a
stage leaves as one StageFailure naming that stage: the edge service logs it once, counts it in
live health and rebuilds the pipeline (edge_agent/supervise.py).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class StageFailure(Exception):
    """A stage raised. `windows`: AggregateWindows the failing call had already closed; emit them."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(f"stage {stage} failed: {type(cause).__name__}: {cause}")
        self.stage = stage
        self.cause = cause
        self.windows: list = []


class StageTimes:
    """Totals per stage, plus what operations read (edge_agent/metrics.py): errors per stage, the
    stage running now (a hung one starves the systemd watchdog) and `observer(stage, seconds)`."""

    def __init__(self) -> None:
        self._total: dict[str, float] = defaultdict(float)
        self.errors: dict[str, int] = defaultdict(int)
        self.running: tuple[str, float] | None = None  # (stage, perf_counter at its start)
        self.observer: Callable[[str, float], None] | None = None
        self.frames = 0

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        self.running = (name, t0)
        try:
            yield
        except StageFailure:
            raise  # an inner stage already named itself
        except Exception as exc:
            self.errors[name] += 1
            raise StageFailure(name, exc) from exc
        finally:
            elapsed = time.perf_counter() - t0
            self._total[name] += elapsed
            self.running = None
            if self.observer is not None:
                self.observer(name, elapsed)

    def per_frame_ms(self) -> dict[str, float]:
        """Mean milliseconds each stage costs per processed frame (stages that skip frames cost less)."""
        frames = max(self.frames, 1)
        return {name: 1000 * total / frames for name, total in self._total.items()}
