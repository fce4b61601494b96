"""Wire schema v1: round trip, topics, and one clear reason for each kind of bad payload."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from cloud_sync.ingest import Rejected, parse_message
from storelens.wire import MAX_PAYLOAD_BYTES, AggregateWindow, parse_topic, topic, window_from_payload

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def window(**overrides) -> AggregateWindow:
    fields = dict(store_id="store-001", device_id="edge-001", camera_id="door", window_start=START,
                  window_end=START + timedelta(minutes=15), entries=12, exits=9, unique_visitors=14)
    return AggregateWindow(**{**fields, **overrides})


def test_round_trip_keeps_every_field_and_the_key() -> None:
    original = window(age_histogram=[1] * 91, zone_visits={"tables": {"visits": 3, "mean_dwell_s": 41.5}})
    back = window_from_payload(original.to_json())
    assert back == original
    assert back.key == ("edge-001", "door", START)


@pytest.mark.parametrize(
    ("name", "parsed"),
    [("storelens/v1/s1/e1/aggregates", ("s1", "e1", "aggregates")),
     ("storelens/v1/s1/e1/status", ("s1", "e1", "status"))],
)
def test_topics_round_trip(name, parsed) -> None:
    assert parse_topic(name) == parsed
    assert topic(*parsed) == name


@pytest.mark.parametrize("name", ["storelens/v2/s/e/aggregates", "storelens/v1/s/e/images", "storelens/v1/s/aggregates"])
def test_foreign_topics_are_refused(name) -> None:
    with pytest.raises(ValueError, match="not a storelens v1 device topic"):
        parse_topic(name)


def _raw(**overrides) -> bytes:
    data = json.loads(window().to_json())
    data.update(overrides)
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("topic_name", "payload", "reason"),
    [
        ("storelens/v1/store-001/edge-001/aggregates", b"{not json", "malformed: not JSON"),
        ("storelens/v1/store-001/edge-001/aggregates", _raw(entries=-1), "malformed: entries:"),
        ("storelens/v1/store-001/edge-001/aggregates", _raw(face_crop="iVBORw0KGgo="), "malformed: face_crop: Extra inputs"),
        ("storelens/v1/store-001/edge-001/aggregates", _raw(window_start="2026-03-01T09:00:00"), "UTC offset"),
        ("storelens/v1/store-001/edge-001/aggregates", b" " * (MAX_PAYLOAD_BYTES + 1), "oversized: 262145 bytes"),
        ("storelens/v1/store-002/edge-001/aggregates", _raw(), "wrongly addressed: payload says store-001/edge-001"),
        ("storelens/v1/store-001/edge-001/status", b"maybe", "status must be 'online' or 'offline'"),
        ("other/topic", _raw(), "bad topic"),
    ],
)
def test_bad_messages_get_one_reason(topic_name, payload, reason) -> None:
    with pytest.raises(Rejected) as err:
        parse_message(topic_name, payload)
    assert reason in str(err.value)
    assert "\n" not in str(err.value)


def test_age_coverage_cannot_exceed_the_age_histogram() -> None:
    with pytest.raises(ValidationError, match="visitors_with_age exceeds the visitors in age_histogram"):
        window(unique_visitors=1, visitors_with_age=5)


def test_visits_closing_may_outnumber_arrivals_in_one_window() -> None:
    """Arrivals count where first decided, ages where the visit closes: a late window has more ages."""
    hist = [0] * 91
    hist[30] = 3
    assert window(unique_visitors=0, visitors_with_age=3, age_histogram=hist).visitors_with_age == 3
