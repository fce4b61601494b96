"""Logging set-up for the CLI and services (library modules only call logging.getLogger).

Every line is plain text: ANSI colour and cursor sequences (werkzeug colours its request log,
other libraries their warnings) are removed, and any other control character in a message is
written escaped, so a log file or the journal holds exactly one readable line per record and a
device cannot forge log lines with a newline in an MQTT topic. Tracebacks keep their lines.
"""

from __future__ import annotations

import logging
import os
import re
import sys

# CSI (colours, cursor moves) and OSC (titles, hyperlinks) sequences, and a lone ESC.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def plain(text: str) -> str:
    """`text` without ANSI sequences, other control characters escaped (\\n, \\r, \\x07 ...)."""
    return _CONTROL.sub(lambda m: repr(m.group(0))[1:-1], _ANSI.sub("", text))


class PlainFormatter(logging.Formatter):
    """The standard format, with each record's message made plain (see module docstring)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        record.message = plain(record.message)
        return super().formatMessage(record)

    def formatException(self, ei) -> str:  # noqa: N802
        return _ANSI.sub("", super().formatException(ei))


def configure_logging(verbose: bool = False, stream=None) -> None:
    """Like logging.basicConfig: nothing happens when the root logger already has handlers (tests)."""
    root = logging.getLogger()
    if root.handlers:
        return
    level = logging.DEBUG if verbose else getattr(logging, os.environ.get("STORELENS_LOG", "INFO").upper(), logging.INFO)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(PlainFormatter(FORMAT))
    root.setLevel(level)
    root.addHandler(handler)
