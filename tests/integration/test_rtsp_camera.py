"""Camera tools and the edge source against a REAL RTSP server on 127.0.0.1 (gst-rtsp-server).

The server is tests/integration/rtsp_server_gst.py run by Debian's /usr/bin/python3 (python3-gi,
gir1.2-gst-rtsp-server-1.0): the project's venv has no GObject bindings. "The stream drops and
comes back" is the server process being stopped and started again on the same port.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import cv2
import pytest

from devkit.servers.process import free_port
from edge_agent.sources.video import LiveSource
from edge_agent.technician.probe import probe
from storelens.cli import main
from storelens.config.sources import CameraConfig

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HELPER = Path(__file__).with_name("rtsp_server_gst.py")
SYSTEM_PYTHON = "/usr/bin/python3"


class RtspServer:
    def __init__(self, video: Path, path: str = "/door") -> None:
        self.video, self.path, self.port = video, path, free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}{self.path}"

    def start(self) -> RtspServer:
        self.proc = subprocess.Popen([SYSTEM_PYTHON, str(HELPER), "--port", str(self.port), "--path", self.path,
                                      "--file", str(self.video)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.stop()
            pytest.fail(f"RTSP test server did not start: {line} {self.proc.stderr.read()[-2000:]}")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # GStreamer busy tearing a client down: the camera dies harder
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None


def encode_for_rtsp(source: Path, out: Path) -> Path:
    """H.264 at 10 fps with a keyframe every second, encoded once, so the server only sends packets."""
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(source), "-an", "-r", "10", "-c:v", "libx264",
                    "-preset", "ultrafast", "-tune", "zerolatency", "-g", "10", "-b:v", "800k", "-pix_fmt", "yuv420p",
                    str(out)], check=True, timeout=120)
    return out


@pytest.fixture(scope="module")
def pets_h264(media_dir, tmp_path_factory) -> Path:
    return encode_for_rtsp(media_dir / "video" / "vtest_pets2009_480x360.avi",
                           tmp_path_factory.mktemp("rtsp") / "pets.mp4")


@pytest.fixture
def rtsp(pets_h264):
    server = RtspServer(pets_h264).start()
    yield server
    server.stop()


def test_probe_reports_the_stream(rtsp, capsys, monkeypatch):
    # Over UDP a starved 2-core CI box loses real packets, which the probe rightly counts as drops;
    # over TCP nothing is lost on loopback, so any drop reported here would be the counter inventing it.
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
    assert main(["camera", "probe", rtsp.url, "--seconds", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["kind"], report["width"], report["height"], report["codec"]) == ("rtsp", 480, 360, "h264")
    assert report["fps_declared"] == pytest.approx(10, abs=0.5)
    assert report["frames"] >= 10 and report["reconnects"] == 0
    assert report["dropped_frames"] <= report["frames"] // 10


def test_probe_counts_a_drop_and_the_stream_coming_back(rtsp):
    def outage():
        time.sleep(2.0)
        rtsp.stop()
        time.sleep(1.5)
        rtsp.start()

    thread = threading.Thread(target=outage)
    thread.start()
    report = probe(rtsp.url, seconds=9.0, timeout_s=3.0)
    thread.join()
    assert report.reconnects == 1
    assert report.frames > 20  # frames before and after the outage


def test_wrong_path_on_a_live_server_is_one_line(rtsp, capsys):
    assert main(["camera", "probe", rtsp.url.replace("/door", "/nope"), "--timeout", "3"]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"storelens: error: camera rtsp://127.0.0.1:{rtsp.port}/nope: cannot")


def test_edge_live_source_reconnects_after_the_camera_drops(rtsp, monkeypatch):
    """The agent's own source (edge_agent.sources.LiveSource): frames resume and the gap is reported."""
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")  # a dead server = EOF at once
    stop = threading.Event()
    source = LiveSource(CameraConfig(id="door", url=rtsp.url, reconnect_initial_s=0.5, reconnect_max_s=1.0), stop)
    frames, dropped = [], False
    deadline = time.monotonic() + 60
    for frame in source:
        frames.append(frame)
        if len(frames) == 10 and not dropped:
            rtsp.stop()
            threading.Timer(1.5, rtsp.start).start()
            dropped = True
        if dropped and frame.gap_s > 0 or time.monotonic() > deadline:
            break
    stop.set()
    source.close()
    resumed = [f for f in frames if f.gap_s > 0]
    assert source.connects == 2 and len(resumed) == 1
    assert resumed[0].gap_s >= 1.0
    assert [f.index for f in frames] == list(range(len(frames)))  # numbering continues across the drop


def test_check_over_rtsp_sees_the_faces(tmp_path, media_dir, model_dir, capsys):
    scene = cv2.resize(cv2.imread(str(media_dir / "faces" / "t1.jpg")), (640, 442), interpolation=cv2.INTER_AREA)
    video = tmp_path / "door.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 442))
    for _ in range(100):
        writer.write(scene)
    writer.release()
    config = tmp_path / "store.yaml"
    config.write_text(f"models:\n  dir: {model_dir}\n  providers: [cpu]\n")
    server = RtspServer(encode_for_rtsp(video, tmp_path / "door.mp4"), "/faces").start()
    try:
        assert main(["camera", "check", server.url, "--seconds", "3", "--config", str(config), "--json"]) == 0
    finally:
        server.stop()
    report = json.loads(capsys.readouterr().out)
    assert report["frames_with_faces"] >= 0.8 * report["frames"] > 0
    assert report["faces_seen"] / report["frames_with_faces"] >= 4  # 6 faces; H.264 at 800 kbit/s may cost one
    assert 40 <= report["median_face_px"] <= 80
