"""A real RTSP server on loopback for the camera-tool tests (GStreamer's gst-rtsp-server).

Run by Debian's /usr/bin/python3 (python3-gi, gir1.2-gst-rtsp-server-1.0), not the project venv:
    /usr/bin/python3 rtsp_server_gst.py --port 8554 --path /door --file video.avi
Serves an H.264 MP4 as it is (no re-encoding, so a busy CI box cannot starve the server into
dropping frames), each client from its start; the tests encode it once with ffmpeg
(`encode_for_rtsp` in test_rtsp_camera.py: 10 fps, a keyframe every second).
Prints `ready` once listening; SIGTERM stops it (the tests use that to make the stream drop).
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/stream")
    parser.add_argument("--file", required=True)
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( filesrc location="{args.file}" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )'
    )
    factory.set_shared(False)
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    print("ready", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
