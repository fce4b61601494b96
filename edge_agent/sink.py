"""The window sink: every camera thread's closed windows into the edge buffer, durably.

A window counts as stored only once it is on disk: the buffer's Redis runs appendfsync always
(checked before the first write and again after every outage), so its reply comes after the fsync.
The window's stream entry, its partial (kept for a restart within the same window, resume.py) and
the camera's clock floor are written in one MULTI: after a power cut either all of them are there
or none. Each window gets a seq no window of this box had before, so no key is ever stamped twice
with the same seq. A window for a key that already closed (the clock went back) is kept out, since
it would overwrite the stored one; that is counted and logged.

While Redis refuses writes (down, disk full) windows wait in memory, at most `max_held`; beyond that
the oldest is dropped. Both are logged as they grow, and the drops are counted in the buffer's
stats once Redis is back (`storelens sync status`).
"""

from __future__ import annotations

import logging
import threading
from collections import deque

import redis

from edge_agent.buffer import EdgeBuffer
from edge_agent.resume import PartialStore, merge_windows
from storelens.linkstate import LinkState
from storelens.wire import AggregateWindow

log = logging.getLogger(__name__)


class HeldWindows:
    """Windows waiting in memory for Redis: bounded, and every change of scale said in the log."""

    def __init__(self, max_held: int) -> None:
        self.max_held = max_held
        self._items: deque[tuple[AggregateWindow, bool]] = deque()
        self.dropped = 0  # not yet counted in Redis
        self._report_at = 1

    def __len__(self) -> int:
        return len(self._items)

    def add(self, windows: list[AggregateWindow], partial: bool) -> None:
        self._items.extend((w, partial) for w in windows)
        over = len(self._items) - self.max_held
        for _ in range(max(0, over)):
            window, _partial = self._items.popleft()
            self.dropped += 1
            log.error("edge buffer unavailable and %d window(s) already held in memory: DROPPED camera %s window %s "
                      "(%d dropped so far)", self.max_held, window.camera_id, window.window_start.isoformat(),
                      self.dropped)

    def first(self) -> tuple[AggregateWindow, bool]:
        return self._items[0]

    def pop(self) -> None:
        self._items.popleft()

    def report(self) -> None:
        """One line each time the held count doubles, so the log says how bad it is getting."""
        if len(self._items) >= self._report_at:
            log.warning("edge buffer still unavailable: %d window(s) held in memory (at most %d)",
                        len(self._items), self.max_held)
            while self._report_at <= len(self._items):
                self._report_at *= 2

    def written(self) -> None:
        self._report_at = 1


class WindowSink:
    """Thread-safe path from camera threads into the buffer, merging resumed partial windows."""

    def __init__(self, buffer: EdgeBuffer, partials: PartialStore, *, max_held: int = 2000) -> None:
        self.buffer = buffer
        self.partials = partials
        self.state = LinkState("edge buffer (Redis)", log)
        self._lock = threading.Lock()
        self._held = HeldWindows(max_held)
        self._durable = False
        self._outage = False
        self.appended = 0

    @property
    def held(self) -> int:
        """Windows waiting in memory for Redis (edge_agent/metrics.py exports it)."""
        return len(self._held)

    def put(self, windows: list[AggregateWindow], *, partial: bool = False) -> None:
        with self._lock:
            self._held.add(windows, partial)
            self._drain()

    def retry(self) -> int:
        """Try the windows that are waiting for Redis again; returns how many still wait."""
        with self._lock:
            self._drain()
            return len(self._held)

    @property
    def dropped_held(self) -> int:
        return self._held.dropped

    def _drain(self) -> None:
        try:
            if self._held and not self._durable:
                self.buffer.ensure_durable()
                self._durable = True
            while self._held:
                self._write(*self._held.first())
                self._held.pop()
            self._after_outage()
        except redis.RedisError as exc:
            self._durable = False  # a Redis that comes back may be another one: check it again
            self._outage = True
            self.state.failed(f"{exc} ({len(self._held)} window(s) held in memory)")
            self._held.report()

    def _after_outage(self) -> None:
        if self._held.dropped:
            self.buffer.count_dropped("dropped_held", self._held.dropped)
            self._held.dropped = 0
        if self._outage:
            log.info("edge buffer: every window held in memory is written")
            self._outage = False
            self._held.written()
        self.state.recovered()

    def _write(self, window: AggregateWindow, partial: bool) -> None:
        self.partials.forget_before(window)  # the box was down past their end (already sent as they were)
        earlier = self.partials.peek(window)
        if earlier is None and self._closed_already(window):
            return
        if earlier is not None:
            log.info("camera %s: merging the window %s flushed before the restart", window.camera_id,
                     window.window_start.isoformat())
            window = merge_windows(earlier, window)
        window = window.model_copy(update={"seq": self.buffer.next_seq()})
        self.buffer.append(window, also=lambda pipe: self.partials.settle(window, partial=partial, pipe=pipe))
        self.appended += 1
        log.info("camera %s: window %s stored (seq %d%s)", window.camera_id, window.window_start.isoformat(),
                 window.seq, ", partial" if partial else "")

    def _closed_already(self, window: AggregateWindow) -> bool:
        floor = self.partials.floor_of(window.camera_id)
        if floor is None or window.window_end > floor:
            return False
        self.buffer.count_dropped("dropped_clock", 1)
        log.error("camera %s: window %s..%s is already closed and buffered or sent (the clock went back to %s): "
                  "its counts are kept out so the stored window is not overwritten", window.camera_id,
                  window.window_start.isoformat(), window.window_end.isoformat(), floor.isoformat())
        return True
