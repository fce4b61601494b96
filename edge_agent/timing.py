"""Per-stage wall-clock timing for the pipeline and its benchmark."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager


class StageTimes:
    def __init__(self) -> None:
        self._total: dict[str, float] = defaultdict(float)
        self.frames = 0

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._total[name] += time.perf_counter() - t0

    def per_frame_ms(self) -> dict[str, float]:
        """Mean milliseconds each stage costs per processed frame (stages that skip frames cost less)."""
        frames = max(self.frames, 1)
        return {name: 1000 * total / frames for name, total in self._total.items()}
