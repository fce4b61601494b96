"""Receipts from cloud ingest: the only thing that deletes a window from the edge buffer.

The device subscribes to its own receipts topic with QoS 1 in a persistent session, so receipts
sent while it was offline arrive when it reconnects. Each receipt lists the windows ingest
committed (deleted here: that version and older ones of the key) and those it refused for good
(dead-lettered in the cloud: deleted here too, and logged, since they will never be stored). A
lost receipt costs only a resend: the window goes out again, the cloud stores it once and sends
another receipt. Receipts are applied in their own thread, so a slow Redis never stalls paho's
network loop; one that fails to apply is retried until Redis answers.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

import redis
from pydantic import ValidationError

from edge_agent.buffer import EdgeBuffer
from storelens.linkstate import LinkState
from storelens.wire import Receipt, topic

log = logging.getLogger(__name__)

MAX_WAITING = 10_000  # receipts not yet applied; beyond it they are dropped (their windows are resent)


@dataclass
class ReceiptStats:
    receipts: int = 0
    committed: int = 0  # buffer entries deleted as committed
    refused: int = 0  # buffer entries deleted as refused for good


class ReceiptListener:
    """Subscribe to `storelens/v1/<store>/<device>/receipts` and apply each receipt to the buffer."""

    def __init__(self, *, buffer: EdgeBuffer, store_id: str, device_id: str) -> None:
        self.buffer = buffer
        self.store_id = store_id
        self.device_id = device_id
        self.topic = topic(store_id, device_id, "receipts")
        self.inbox: queue.Queue[Receipt] = queue.Queue(maxsize=MAX_WAITING)
        self.stats = ReceiptStats()
        self.subscription = LinkState(f"receipts subscription {self.topic}", log)
        self.redis_state = LinkState("edge buffer (Redis), applying receipts", log)
        self._mid: int | None = None

    def on_up(self, client) -> None:
        self._mid = client.subscribe(self.topic, qos=1)[1]

    def on_subscribe(self, _client, _userdata, mid, reason_codes, _props) -> None:
        if mid != self._mid:
            return
        if reason_codes and reason_codes[0].is_failure:
            self.subscription.failed(f"broker refused it: {reason_codes[0]}; windows stay buffered and are re-sent "
                                     "(does the broker ACL let this device read its receipts topic?)")
        else:
            self.subscription.recovered()

    def on_message(self, _client, _userdata, msg) -> None:
        try:
            receipt = Receipt.model_validate_json(msg.payload)
        except ValidationError as exc:
            log.warning("ignored a malformed receipt on %s: %s", self.topic, exc.errors(include_url=False)[0]["msg"])
            return
        if (receipt.store_id, receipt.device_id) != (self.store_id, self.device_id):
            log.warning("ignored a receipt for %s/%s on %s", receipt.store_id, receipt.device_id, self.topic)
            return
        try:
            self.inbox.put_nowait(receipt)
        except queue.Full:
            log.warning("%d receipts waiting to be applied: one dropped (its windows will be re-sent)", MAX_WAITING)

    def run(self, stop: threading.Event) -> None:
        receipt: Receipt | None = None
        while not stop.is_set():
            if receipt is None:
                try:
                    receipt = self.inbox.get(timeout=0.5)
                except queue.Empty:
                    continue
            if self.apply(receipt):
                receipt = None
            else:
                stop.wait(1.0)

    def apply(self, receipt: Receipt) -> bool:
        """Delete what the receipt covers; False when Redis is unavailable (try again later)."""
        try:
            committed, refused = self.buffer.settle(receipt)
        except redis.RedisError as exc:
            self.redis_state.failed(str(exc))
            return False
        self.redis_state.recovered()
        self.stats.receipts += 1
        self.stats.committed += committed
        self.stats.refused += refused
        for ref in receipt.refused:
            log.error("cloud ingest refused camera %s window %s (seq %d) for good: %s; it is in the cloud's "
                      "dead-letter table and no longer buffered here", ref.camera_id, ref.window_start.isoformat(),
                      ref.seq, ref.reason)
        return True
