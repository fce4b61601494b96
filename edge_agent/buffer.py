"""The edge buffer: AggregateWindows in a Redis Stream (AOF on) until the broker has them.

The edge app appends; the sync process reads through a consumer group, and an entry is XACKed
and XDELeted only after the broker's PUBACK. Entries delivered but never acknowledged stay in the
group's pending list and are read again after a crash.

The buffer is bounded by payload bytes and by age. Appending and trimming run as one Lua script,
so the byte count can never drift from the stream, and every dropped window is counted in the
stats hash (shown by `sync status` and in the heartbeat) and logged loudly: never silent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from storelens.wire import MAX_PAYLOAD_BYTES, AggregateWindow

log = logging.getLogger(__name__)

GROUP = "sync"

# KEYS: stream, stats. ARGV: payload ('' = only trim), key, window_start, max_bytes, max_age_ms.
_APPEND_AND_TRIM = """
local id = false
if ARGV[1] ~= '' then
  id = redis.call('XADD', KEYS[1], '*', 'key', ARGV[2], 'ws', ARGV[3], 'payload', ARGV[1])
  redis.call('HINCRBY', KEYS[2], 'bytes', #ARGV[1])
  redis.call('HINCRBY', KEYS[2], 'appended', 1)
end
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[5])
local full, old = 0, 0
while true do
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
  if #first == 0 then break end
  local fid, fields = first[1][1], first[1][2]
  local bytes = tonumber(redis.call('HGET', KEYS[2], 'bytes') or '0')
  local reason = nil
  if bytes > tonumber(ARGV[4]) and fid ~= id then reason = 'dropped_full'
  elseif tonumber(string.match(fid, '^(%d+)')) < cutoff then reason = 'dropped_age' end
  if not reason then break end
  local size = 0
  for i = 1, #fields, 2 do if fields[i] == 'payload' then size = #fields[i + 1] end end
  redis.call('XDEL', KEYS[1], fid)
  redis.call('HINCRBY', KEYS[2], 'bytes', -size)
  redis.call('HINCRBY', KEYS[2], reason, 1)
  if reason == 'dropped_full' then full = full + 1 else old = old + 1 end
end
return {id, full, old}
"""

# KEYS: stream, stats. ARGV: group, ids... Removes only entries still present; returns how many.
_ACK_AND_DELETE = """
local removed = 0
for i = 2, #ARGV do
  local entry = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
  if #entry == 1 then
    local fields, size = entry[1][2], 0
    for j = 1, #fields, 2 do if fields[j] == 'payload' then size = #fields[j + 1] end end
    removed = removed + redis.call('XDEL', KEYS[1], ARGV[i])
    redis.call('HINCRBY', KEYS[2], 'bytes', -size)
  end
end
return removed
"""


@dataclass(frozen=True)
class BufferEntry:
    entry_id: str
    key: str
    window_start: datetime
    payload: bytes


@dataclass(frozen=True)
class BufferStats:
    depth: int
    bytes: int
    appended: int
    dropped_full: int
    dropped_age: int
    oldest_entry_at: datetime | None
    oldest_window: datetime | None
    pending: int
    last_ack_window: datetime | None

    @property
    def dropped(self) -> int:
        return self.dropped_full + self.dropped_age


def fit_to_wire(window: AggregateWindow) -> bytes:
    """The window's JSON, within what ingest accepts. A heatmap on a very fine grid can outgrow it:
    then the per-age-band heatmaps, and if need be the cells, are left out (loudly) so the counts
    still travel instead of being dead-lettered in the cloud."""
    payload = window.to_json()
    for cut in ({"by_band": {}}, {"by_band": {}, "cells": []}):
        if len(payload) <= MAX_PAYLOAD_BYTES:
            return payload
        log.error("window %s/%s is %d bytes (> %d): leaving out heatmap %s", window.camera_id,
                  window.window_start.isoformat(), len(payload), MAX_PAYLOAD_BYTES, " and ".join(cut))
        payload = window.model_copy(update={"heatmap": window.heatmap.model_copy(update=cut)}).to_json()
    return payload


def window_key(window: AggregateWindow) -> str:
    """The window's key (device, camera, start) as one string: a buffer entry field, a partial's name."""
    return "|".join((window.device_id, window.camera_id, window.window_start.isoformat()))


def _entry_time(entry_id: str) -> datetime:
    return datetime.fromtimestamp(int(entry_id.split("-")[0]) / 1000, UTC)


class EdgeBuffer:
    """A bounded Redis Stream of AggregateWindow JSON, shared by the edge app and the sync process."""

    def __init__(self, client: redis.Redis, *, stream: str = "storelens:aggregates",
                 max_bytes: int = 256 * 1024 * 1024, max_age_s: float = 30 * 86400) -> None:
        self.client = client
        self.stream = stream
        self.stats_key = f"{stream}:stats"
        self.last_ack_key = f"{stream}:last_ack"
        self.max_bytes = max_bytes
        self.max_age_ms = int(max_age_s * 1000)
        self._append = client.register_script(_APPEND_AND_TRIM)
        self._ack = client.register_script(_ACK_AND_DELETE)

    def append(self, window: AggregateWindow) -> str:
        """Buffer one window; returns its entry id. Drops (and counts) the oldest if over a bound."""
        entry_id, full, old = self._append(
            keys=[self.stream, self.stats_key],
            args=[fit_to_wire(window), window_key(window), window.window_start.isoformat(), self.max_bytes, self.max_age_ms],
        )
        self._report_drops(full, old)
        return entry_id.decode()

    def trim(self) -> tuple[int, int]:
        """Apply the age bound without appending (the sync process calls this during long outages)."""
        _, full, old = self._append(keys=[self.stream, self.stats_key],
                                    args=["", "", "", self.max_bytes, self.max_age_ms])
        self._report_drops(full, old)
        return full, old

    def _report_drops(self, full: int, old: int) -> None:
        if full:
            log.error("edge buffer over %s bytes: DROPPED the %s oldest window(s) to make room", self.max_bytes, full)
        if old:
            log.error("edge buffer: DROPPED %s window(s) older than %.1f days", old, self.max_age_ms / 86_400_000)

    def ensure_group(self) -> None:
        try:
            self.client.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def claim_pending(self, consumer: str) -> int:
        """Take over entries another (crashed) consumer had been sent but never acknowledged."""
        self.ensure_group()
        cursor, claimed = "0-0", 0
        while True:
            cursor, entries, *_ = self.client.xautoclaim(self.stream, GROUP, consumer, 0, cursor, count=1000)
            claimed += len(entries)
            if cursor in (b"0-0", "0-0"):
                return claimed

    def read_batch(self, consumer: str, count: int) -> list[BufferEntry]:
        """Oldest first: this consumer's pending (unacknowledged) entries, then new ones."""
        for start in ("0", ">"):
            entries = self._entries(self._xread(consumer, start, count))
            if entries:
                return entries
        return []

    def _xread(self, consumer: str, start: str, count: int):
        try:
            return self.client.xreadgroup(GROUP, consumer, {self.stream: start}, count=count)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.ensure_group()  # first read ever, or a Redis that lost its data
            return self.client.xreadgroup(GROUP, consumer, {self.stream: start}, count=count)

    def _entries(self, reply) -> list[BufferEntry]:
        out, gone = [], []
        for _stream, items in reply or []:
            for raw_id, fields in items:
                if not fields:  # dropped by the bound while pending: forget it
                    gone.append(raw_id)
                    continue
                out.append(BufferEntry(raw_id.decode(), fields[b"key"].decode(),
                                       datetime.fromisoformat(fields[b"ws"].decode()), fields[b"payload"]))
        if gone:
            self.client.xack(self.stream, GROUP, *gone)
        return out

    def ack(self, entries: list[BufferEntry]) -> int:
        """Call only after the broker's PUBACK: acknowledges and deletes the entries."""
        if not entries:
            return 0
        removed = self._ack(keys=[self.stream, self.stats_key], args=[GROUP, *(e.entry_id for e in entries)])
        newest = max(e.window_start for e in entries)
        self.client.set(self.last_ack_key, newest.isoformat())
        return int(removed)

    def stats(self) -> BufferStats:
        raw = {k.decode(): int(v) for k, v in self.client.hgetall(self.stats_key).items()}
        first = self.client.xrange(self.stream, "-", "+", count=1)
        oldest_at = _entry_time(first[0][0].decode()) if first else None
        oldest_ws = datetime.fromisoformat(first[0][1][b"ws"].decode()) if first else None
        last_ack = self.client.get(self.last_ack_key)
        return BufferStats(
            depth=self.client.xlen(self.stream), bytes=raw.get("bytes", 0), appended=raw.get("appended", 0),
            dropped_full=raw.get("dropped_full", 0), dropped_age=raw.get("dropped_age", 0),
            oldest_entry_at=oldest_at, oldest_window=oldest_ws, pending=self._pending_count(),
            last_ack_window=datetime.fromisoformat(last_ack.decode()) if last_ack else None,
        )

    def _pending_count(self) -> int:
        try:
            return int(self.client.xpending(self.stream, GROUP)["pending"])
        except redis.ResponseError:  # no group yet: nothing was ever read
            return 0


def open_buffer(cfg) -> EdgeBuffer:
    """The buffer named by a StorelensConfig; the Redis password comes from env/file only."""
    from urllib.parse import urlsplit

    from storelens.errors import ConfigError
    from storelens.secrets import read_secret

    sync = cfg.sync
    if urlsplit(sync.redis_url).password:
        raise ConfigError("sync.redis_url: put the Redis password in $STORELENS_REDIS_PASSWORD or "
                          "sync.redis_password_file, not in the config")
    password = read_secret(env="STORELENS_REDIS_PASSWORD", file=sync.redis_password_file,
                           what="sync.redis_password", mode=cfg.mode, required=False)
    client = redis.Redis.from_url(sync.redis_url, password=password, socket_timeout=10,
                                  socket_connect_timeout=5, health_check_interval=30)
    return EdgeBuffer(client, stream=sync.stream, max_bytes=sync.buffer_max_bytes,
                      max_age_s=sync.buffer_max_age_days * 86400)
