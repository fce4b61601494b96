"""Every retry loop waits a jittered, exponentially growing delay (storelens/retry.py)."""

from __future__ import annotations

import random
import threading

import pytest

from storelens.retry import Backoff, jittered


@pytest.mark.parametrize(("u", "expected"), [(0.0, 10.0), (1.0, 5.0), (0.5, 7.5)])
def test_jitter_spreads_over_the_upper_half(u: float, expected: float) -> None:
    assert jittered(10.0, 0.5, rng=lambda: u) == pytest.approx(expected)


def test_backoff_doubles_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(1.0, 8.0, jitter=0.0)
    assert [backoff.next() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    backoff.reset()
    assert backoff.next() == 1.0


def test_backoff_delays_stay_within_their_band() -> None:
    backoff = Backoff(1.0, 60.0, rng=random.Random(7).random)
    for attempt in range(12):
        nominal = min(60.0, 2.0 ** attempt)
        assert nominal / 2 <= backoff.next() <= nominal


def test_devices_that_failed_together_drift_apart() -> None:
    fleet = [Backoff(1.0, 120.0) for _ in range(200)]  # each with its own generator, as on real devices
    waits = [sum(b.next() for _ in range(5)) for b in fleet]  # time of the 6th attempt
    assert len({round(w, 3) for w in waits}) > 190
    assert max(waits) - min(waits) > 5.0  # nominal total 31 s, spread over roughly half of it


@pytest.mark.parametrize("bad", [dict(first_s=0, max_s=1), dict(first_s=2, max_s=1), dict(first_s=1, max_s=2, jitter=2)])
def test_bad_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        Backoff(**bad)


def test_mqtt_link_waits_our_jittered_delay_between_reconnects() -> None:
    from storelens.mqttlink import LinkSettings, MqttLink

    link = MqttLink(LinkSettings(host="127.0.0.1", port=1, client_id="t", username="u", password=None,
                                 tls=False, reconnect_min_s=1.0, reconnect_max_s=16.0))
    delays = []
    for _ in range(6):
        link._on_connect_fail(link.client, None)
        delays.append(link.client._reconnect_min_delay)
        assert link.client._reconnect_max_delay == delays[-1]  # paho then waits exactly this long
    for attempt, delay in enumerate(delays):
        nominal = min(16.0, 2.0 ** attempt)
        assert nominal / 2 <= delay <= nominal
    assert len(set(delays)) == len(delays)


def test_unreachable_camera_retries_are_jittered(monkeypatch) -> None:
    from edge_agent.sources import video
    from storelens.config.sources import CameraConfig

    waits: list[float] = []
    stop = threading.Event()

    class Closed:
        def isOpened(self) -> bool:  # noqa: N802 (cv2's name)
            return False

        def release(self) -> None:
            pass

    class RecordingStop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout)
            if len(waits) >= 5:
                stop.set()
            return stop.is_set()

        def is_set(self) -> bool:
            return stop.is_set()

    monkeypatch.setattr(video, "video_capture", lambda *a, **k: Closed())
    cfg = CameraConfig(id="door", url="rtsp://127.0.0.1:1/x", reconnect_initial_s=1.0, reconnect_max_s=8.0)
    assert video.LiveSource(cfg, RecordingStop())._reconnect() is None
    for attempt, wait in enumerate(waits):
        nominal = min(8.0, 2.0 ** attempt)
        assert nominal / 2 <= wait <= nominal
