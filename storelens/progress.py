"""Progress of long work (analyze, audit, bench, models pull): a bar on a terminal, log lines otherwise.

When stdout is a terminal a tqdm bar is drawn on stderr (stdout keeps only the command's output,
so `--json -` stays parseable); under systemd, CI or a pipe there is no bar and no carriage
return in any log, just one INFO line every `every_s` seconds saying how far it got.
"""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger(__name__)


def interactive() -> bool:
    return sys.stdout.isatty() and sys.stderr.isatty()


class Progress:
    """`update(n)` as work gets done; usable as a context manager, and as an `on_frame(frame, pipeline)`."""

    def __init__(self, desc: str, total: int | None = None, unit: str = "frame", *, every_s: float = 10.0,
                 bar: bool | None = None, clock=time.monotonic) -> None:
        self.desc, self.total, self.unit = desc, total or None, unit
        self.every_s = every_s
        self.clock = clock
        self.done = 0
        self._started = self._last_log = clock()
        self._bar = self._make_bar() if (interactive() if bar is None else bar) else None

    def _make_bar(self):
        from tqdm import tqdm

        return tqdm(total=self.total, desc=self.desc, unit=self.unit, file=sys.stderr, dynamic_ncols=True, leave=False)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = self.clock()
        if now - self._last_log >= self.every_s:
            self._last_log = now
            log.info("%s", self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or self.clock()) - self._started, 1e-9)
        rate = self.done / elapsed
        if self.total:
            left = (self.total - self.done) / rate if rate > 0 else float("inf")
            eta = f", about {left:.0f} s left" if left != float("inf") else ""
            return (f"{self.desc}: {self.done}/{self.total} {self.unit}s ({100 * self.done / self.total:.0f} %, "
                    f"{rate:.1f}/s{eta})")
        return f"{self.desc}: {self.done} {self.unit}s ({rate:.1f}/s)"

    def write(self, line: str) -> None:
        """Print a line of the command's output without tearing the bar."""
        if self._bar is not None:
            self._bar.write(line, file=sys.stdout)
        else:
            sys.stdout.write(line + "\n")

    def __call__(self, *_args) -> None:
        self.update()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
