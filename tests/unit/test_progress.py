"""Long work shows a bar on a terminal and writes plain progress lines otherwise (storelens/progress.py)."""

from __future__ import annotations

import logging

from storelens.progress import Progress


def test_without_a_terminal_it_logs_a_line_every_interval(caplog) -> None:
    clock = [0.0]
    caplog.set_level(logging.INFO, logger="storelens.progress")
    progress = Progress("analyze pets.avi", 100, every_s=10, bar=False, clock=lambda: clock[0])
    for _ in range(40):
        clock[0] += 0.5
        progress.update()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["analyze pets.avi: 20/100 frames (20 %, 2.0/s, about 40 s left)",
                     "analyze pets.avi: 40/100 frames (40 %, 2.0/s, about 30 s left)"]
    assert all("\r" not in line and "\x1b" not in line for line in lines)


def test_on_a_terminal_it_draws_a_bar_on_stderr_and_keeps_stdout_clean(capsys) -> None:
    with Progress("models pull", 3, unit="model", bar=True) as progress:
        for name in ("yunet", "yolox_nano", "reid"):
            progress.update()
            progress.write(f"present   {name}")
    out, err = capsys.readouterr()
    assert out.splitlines() == ["present   yunet", "present   yolox_nano", "present   reid"]
    assert "models pull" in err


def test_it_is_an_on_frame_callback() -> None:
    progress = Progress("audit", None, bar=False)
    progress("frame", "pipeline")
    progress("frame", "pipeline")
    assert progress.done == 2 and progress.line().startswith("audit: 2 frames (")
