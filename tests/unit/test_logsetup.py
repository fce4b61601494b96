"""Log lines are plain text: no ANSI colour in a log file, no forged lines from control characters."""

from __future__ import annotations

import io
import logging
import subprocess
import sys

import pytest

from storelens.logsetup import FORMAT, PlainFormatter, plain


@pytest.mark.parametrize(("raw", "expected"), [
    ("\x1b[32mGET / HTTP/1.1\x1b[0m 200", "GET / HTTP/1.1 200"),              # werkzeug's coloured request log
    ("\x1b[1;31mERROR\x1b[0m", "ERROR"),
    ("\x1b]8;;http://x\x07link\x1b]8;;\x07", "link"),                          # OSC hyperlink
    ("\x1b[2K\rprogress 50%", "\\rprogress 50%"),                              # cursor moves
    ("dead letter from storelens/v1/s/d\n2026-01-01 INFO fake: ok", "dead letter from storelens/v1/s/d\\n2026-01-01 INFO fake: ok"),
    ("tab\tstays", "tab\tstays"),
    ("bell\x07 and nul\x00", "bell\\x07 and nul\\x00"),
    ("naïve ünïcode", "naïve ünïcode"),
])
def test_plain(raw: str, expected: str) -> None:
    assert plain(raw) == expected


def test_formatter_keeps_one_line_per_record_and_traceback_lines() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(PlainFormatter(FORMAT))
    logger = logging.getLogger("storelens.test.plain")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning("camera %s: \x1b[33mdropped\x1b[0m", "door\nFAKE LINE")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("stage failed")
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert "\x1b" not in text
    first, *rest = text.splitlines()
    assert first.endswith("camera door\\nFAKE LINE: dropped")
    assert rest[0].endswith("stage failed") and rest[1].startswith("Traceback") and rest[-1] == "ValueError: boom"


def test_the_cli_logs_plain_lines_to_a_file(tmp_path) -> None:
    log_file = tmp_path / "service.log"
    code = ("import logging; from storelens.logsetup import configure_logging; configure_logging();"
            "logging.getLogger('werkzeug').info('\\x1b[31m127.0.0.1 - GET /metrics\\x1b[0m 200')")
    with log_file.open("w") as err:
        subprocess.run([sys.executable, "-c", code], stderr=err, check=True, timeout=60)
    text = log_file.read_text()
    assert "\x1b" not in text and "werkzeug: 127.0.0.1 - GET /metrics 200" in text
