"""Video sources: files, RTSP and USB cameras behind one interface, with timestamps."""
