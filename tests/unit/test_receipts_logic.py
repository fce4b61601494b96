"""Receipts and refusals without servers: what ingest refuses for good, what a receipt names, how it splits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from cloud_sync.ingest import Rejected, parse_message
from cloud_sync.receipts import REFS_PER_RECEIPT, ReceiptBook
from storelens.wire import MAX_PAYLOAD_BYTES, AggregateWindow, Receipt, window_from_payload, window_ref

TOPIC = "storelens/v1/store-001/edge-001/aggregates"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def window(**overrides) -> AggregateWindow:
    start = overrides.pop("start", datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    fields = dict(store_id="store-001", device_id="edge-001", camera_id="door", window_start=start,
                  window_end=start + timedelta(minutes=15), entries=3, seq=7)
    return AggregateWindow(**{**fields, **overrides})


def _raw(**overrides) -> bytes:
    return json.dumps({**json.loads(window().to_json()), **overrides}).encode()


@pytest.mark.parametrize(
    ("payload", "reason", "code"),
    [
        (window(seeded=True).to_json(), "seeded: devices may not send", "seeded"),
        (window(start=datetime(2024, 12, 31, 23, 45, tzinfo=UTC)).to_json(), "clock: window 2024-12-31", "clock"),
        (window(start=NOW + timedelta(days=1)).to_json(), "receive time + 1 day", "clock"),
        (_raw(entries=-1), "malformed: entries", "malformed"),
        (_raw(entries=10**400), "malformed: entries", "malformed"),  # a huge number: the key is still readable
        (b'{"camera_id": "door", "seq": "x"}', "malformed", None),  # no readable key: nothing to refuse
        (b"[" * 1000 + b"]" * 1000, "malformed: not JSON: recursion limit", None),
        (b'{"a":' * 1000 + b"1" + b"}" * 1000, "malformed: not JSON: recursion limit", None),
        (_raw(store_id="store-002"), "wrongly addressed", "misaddressed"),
    ],
)
def test_refusals_for_good_name_the_window(payload: bytes, reason: str, code: str | None) -> None:
    with pytest.raises(Rejected) as err:
        parse_message(TOPIC, payload, NOW)
    assert reason in str(err.value) and "\n" not in str(err.value)
    assert err.value.code == ("malformed" if code is None else code)
    if code is None:
        assert err.value.ref is None
    else:
        assert (err.value.ref.camera_id, err.value.ref.seq) == ("door", 7)


def test_a_window_ending_within_a_day_of_receipt_is_accepted() -> None:
    ok = window(start=NOW + timedelta(hours=23))
    assert parse_message(TOPIC, ok.to_json(), NOW)[3] == ok


def test_oversized_payload_is_refused_without_parsing_it_as_a_window() -> None:
    with pytest.raises(Rejected, match="oversized"):
        parse_message(TOPIC, b" " * (MAX_PAYLOAD_BYTES + 1), NOW)


def test_deep_nesting_is_a_value_error_not_a_recursion_error() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        window_from_payload(b"[" * 100_000 + b"]" * 100_000)


def test_receipt_book_groups_by_device_and_splits_large_receipts() -> None:
    book = ReceiptBook()
    assert not book
    base = datetime(2026, 3, 1, tzinfo=UTC)
    for i in range(REFS_PER_RECEIPT + 5):
        book.committed("store-001", "edge-001", window(start=base + timedelta(minutes=15 * i)))
    book.refused("store-001", "edge-001", window_ref(window(seq=9)), "conflict")
    book.committed("store-002", "edge-002", window(store_id="store-002", device_id="edge-002"))
    messages = book.messages(NOW)
    topics = [t for t, _r in messages]
    assert topics == ["storelens/v1/store-001/edge-001/receipts"] * 2 + ["storelens/v1/store-002/edge-002/receipts"]
    first, second, other = (r for _t, r in messages)
    assert len(first.committed) == REFS_PER_RECEIPT and len(second.committed) == 5
    assert [(r.seq, r.reason) for r in second.refused] == [(9, "conflict")]
    for _t, receipt in messages:  # each one a valid wire message, small enough for the broker
        assert Receipt.model_validate_json(receipt.to_json()) == receipt
        assert len(receipt.to_json()) < 200_000


def test_merging_books_keeps_every_ref() -> None:
    a, b = ReceiptBook(), ReceiptBook()
    a.committed("store-001", "edge-001", window())
    b.committed("store-001", "edge-001", window(camera_id="floor"))
    a.merge(b)
    [(_topic, receipt)] = a.messages(NOW)
    assert sorted(r.camera_id for r in receipt.committed) == ["door", "floor"]
