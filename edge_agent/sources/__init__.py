"""Video sources: files, RTSP and USB cameras behind one interface, with timestamps.

`Frame` and `open_source` (plus FileSource, LiveSource) are loaded on first use, so importing the
config section `storelens.config.sources` does not pull in OpenCV.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {"Frame": "frame", "FileSource": "video", "LiveSource": "video", "VideoSource": "video",
            "open_source": "video"}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
