"""Replacing a file so that a reader sees the old content or the new, never half of either."""

from __future__ import annotations

import os
from pathlib import Path

from storelens.errors import InputError, StorelensError


def write_atomic(path: Path, data: bytes, *, what: str, error: type[StorelensError] = InputError) -> None:
    """Write `data` to a hidden temporary file beside `path`, then rename it over `path`.

    On failure no temporary file is left and `error` names `what`, the path and the reason.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise error(f"{what} {path}: cannot write: {exc.strerror}") from None
