"""Where storelens keeps its files. Nothing here depends on the current working directory."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Root for models, buffers and databases: $STORELENS_HOME, else ~/.local/share/storelens."""
    env = os.environ.get("STORELENS_HOME")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "storelens"


def default_model_dir() -> Path:
    return Path(os.environ.get("STORELENS_MODEL_DIR") or data_dir() / "models").expanduser()


def shared_dir() -> Path | None:
    """The development mirror `../shared` beside the checkout (models and test media), if present."""
    env = os.environ.get("STORELENS_SHARED")
    candidates = [Path(env)] if env else []
    candidates.append(PROJECT_ROOT.parent / "shared")
    for cand in candidates:
        if (cand / "models").is_dir() or (cand / "media").is_dir():
            return cand
    return None
