"""Receipts: after each commit, ingest tells every device which of its windows the cloud now holds
(and which it refused for good), so the device may delete them from its buffer.

A broker's PUBACK only says the broker has a message; a broker can still lose it (restart before a
snapshot, a full queue, an ACL drop). The receipt comes after the database commit, so a window a
device deleted is a window the cloud has. Receipts are QoS 1 to the device's own receipts topic; a
lost one is harmless: the device sends the window again, the upsert stores it once, and a new
receipt follows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from storelens.wire import AggregateWindow, Receipt, RefusalReason, RefusedRef, WindowRef, topic, window_ref

# Refs per receipt message: ~80 bytes each, so a receipt stays far below the broker's packet cap.
REFS_PER_RECEIPT = 1000


@dataclass
class _DeviceRefs:
    committed: list[WindowRef] = field(default_factory=list)
    refused: list[RefusedRef] = field(default_factory=list)


class ReceiptBook:
    """What one committed unit of work means for each device, by (store_id, device_id)."""

    def __init__(self) -> None:
        self._devices: dict[tuple[str, str], _DeviceRefs] = {}

    def __bool__(self) -> bool:
        return bool(self._devices)

    def committed(self, store_id: str, device_id: str, window: AggregateWindow) -> None:
        self._refs(store_id, device_id).committed.append(window_ref(window))

    def refused(self, store_id: str, device_id: str, ref: WindowRef, reason: RefusalReason) -> None:
        self._refs(store_id, device_id).refused.append(RefusedRef(**ref.model_dump(), reason=reason))

    def merge(self, other: ReceiptBook) -> None:
        for (store_id, device_id), refs in other._devices.items():
            mine = self._refs(store_id, device_id)
            mine.committed.extend(refs.committed)
            mine.refused.extend(refs.refused)

    def messages(self, sent_at: datetime) -> list[tuple[str, Receipt]]:
        """(topic, receipt) per device, split so no receipt holds more than REFS_PER_RECEIPT refs."""
        out = []
        for (store_id, device_id), refs in self._devices.items():
            where = topic(store_id, device_id, "receipts")
            items = [("c", r) for r in refs.committed] + [("r", r) for r in refs.refused]
            for start in range(0, len(items), REFS_PER_RECEIPT):
                chunk = items[start:start + REFS_PER_RECEIPT]
                out.append((where, Receipt(store_id=store_id, device_id=device_id, sent_at=sent_at,
                                           committed=[r for kind, r in chunk if kind == "c"],
                                           refused=[r for kind, r in chunk if kind == "r"])))
        return out

    def _refs(self, store_id: str, device_id: str) -> _DeviceRefs:
        return self._devices.setdefault((store_id, device_id), _DeviceRefs())
