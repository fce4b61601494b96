"""Replacing a file so that a reader sees the old content or the new, never half of either."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from storelens.errors import InputError, StorelensError


def write_atomic(path: Path, data: bytes, *, what: str, error: type[StorelensError] = InputError) -> None:
    """Write `data` to a hidden temporary file beside `path`, flush it to disk, then rename it over `path`.

    The fsync before the rename is what makes a power cut leave the old file or the new one, not an
    empty one. The temporary name is unique, so two writers never share it. On failure no temporary
    file is left and `error` names `what`, the path and the reason.
    """
    path = Path(path)
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise error(f"{what} {path}: cannot write: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
