"""Video in: files, RTSP and USB cameras as one iterable of Frames."""

from edge_agent.sources.frame import Frame
from edge_agent.sources.video import FileSource, LiveSource, VideoSource, open_source

__all__ = ["FileSource", "Frame", "LiveSource", "VideoSource", "open_source"]
