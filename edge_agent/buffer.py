"""The edge buffer: AggregateWindows in a Redis Stream (AOF, fsync always) until the cloud has them.

The edge app appends; the sync process reads through a consumer group. A window's life:
appended -> read and published (pending in the group) -> PUBACKed: *sent*, awaiting ingest's
receipt (sorted set `:due`, by when to send it again) -> receipted: deleted. A broker's PUBACK is
not enough to delete: a broker holds messages in RAM and drops them at queue limits and ACL checks,
so only ingest's receipt (after its database commit) removes a window. Sent windows with no receipt
by their due time are sent again, with backoff; the cloud's upsert makes a resend harmless.
Entries read but never PUBACKed stay in the group's pending list and are read again after a crash.

The buffer is bounded by payload bytes and by age. Appending and trimming run as one Lua script,
so the byte count can never drift from the stream, and every dropped window is counted in the
stats hash (shown by `sync status` and in the heartbeat) and logged loudly: never silent. Every
script keeps the `:index` hash (camera|window_start -> entry ids) that receipts are matched by.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from storelens.retry import jittered
from storelens.wire import MAX_PAYLOAD_BYTES, AggregateWindow, Receipt, WindowRef

log = logging.getLogger(__name__)

GROUP = "sync"

# Shared by the scripts. KEYS: stream, stats, index, due, tries, last_ack. ARGV[1]: group.
_LIB = """
local function field(fields, name)
  for i = 1, #fields, 2 do if fields[i] == name then return fields[i + 1] end end
  return nil
end
local function unindex(ref, id)
  local ids = redis.call('HGET', KEYS[3], ref)
  if not ids then return end
  local kept = {}
  for x in string.gmatch(ids, '%S+') do if x ~= id then kept[#kept + 1] = x end end
  if #kept == 0 then redis.call('HDEL', KEYS[3], ref) else redis.call('HSET', KEYS[3], ref, table.concat(kept, ' ')) end
end
local function forget(id, fields)
  local payload = field(fields, 'payload') or ''
  redis.call('XDEL', KEYS[1], id)
  redis.call('HINCRBY', KEYS[2], 'bytes', -#payload)
  redis.call('ZREM', KEYS[4], id)
  redis.call('HDEL', KEYS[5], id)
  redis.pcall('XACK', KEYS[1], ARGV[1], id)
  local ref = field(fields, 'ref')
  if ref then unindex(ref, id) end
end
local function entry_seq(fields)
  local seq = field(fields, 'seq')
  if seq then return tonumber(seq) end
  local ok, doc = pcall(cjson.decode, field(fields, 'payload') or '')
  return (ok and tonumber(doc['seq'])) or 0
end
"""

# ARGV: group, payload ('' = only trim), key, ref, window_start, seq, max_bytes, max_age_ms.
_APPEND_AND_TRIM = _LIB + """
local id = false
if ARGV[2] ~= '' then
  id = redis.call('XADD', KEYS[1], '*', 'key', ARGV[3], 'ref', ARGV[4], 'ws', ARGV[5], 'seq', ARGV[6],
                  'payload', ARGV[2])
  redis.call('HINCRBY', KEYS[2], 'bytes', #ARGV[2])
  redis.call('HINCRBY', KEYS[2], 'appended', 1)
  local ids = redis.call('HGET', KEYS[3], ARGV[4])
  redis.call('HSET', KEYS[3], ARGV[4], ids and (ids .. ' ' .. id) or id)
end
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[8])
local full, old = 0, 0
while true do
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
  if #first == 0 then break end
  local fid, fields = first[1][1], first[1][2]
  local bytes = tonumber(redis.call('HGET', KEYS[2], 'bytes') or '0')
  local reason = nil
  if bytes > tonumber(ARGV[7]) and fid ~= id then reason = 'dropped_full'
  elseif tonumber(string.match(fid, '^(%d+)')) < cutoff then reason = 'dropped_age' end
  if not reason then break end
  forget(fid, fields)
  redis.call('HINCRBY', KEYS[2], reason, 1)
  if reason == 'dropped_full' then full = full + 1 else old = old + 1 end
end
return {id, full, old}
"""

# ARGV: group, now_ms, first_ms, max_ms, then (id, jitter factor) pairs. After a PUBACK: out of the
# pending list, into `:due` at now + min(first * 2^(sends-1), max) * factor. Returns how many.
_MARK_SENT = _LIB + """
local marked = 0
for i = 5, #ARGV, 2 do
  local id = ARGV[i]
  if #redis.call('XRANGE', KEYS[1], id, id) == 1 then
    redis.call('XACK', KEYS[1], ARGV[1], id)
    local sends = redis.call('HINCRBY', KEYS[5], id, 1)
    if sends > 1 then redis.call('HINCRBY', KEYS[2], 'resent', 1) end
    local delay = math.min(tonumber(ARGV[3]) * 2 ^ (sends - 1), tonumber(ARGV[4])) * tonumber(ARGV[i + 1])
    redis.call('ZADD', KEYS[4], math.floor(tonumber(ARGV[2]) + delay), id)
    marked = marked + 1
  end
end
return marked
"""

# ARGV: group, then (ref, seq, how) triples; how 'c' = committed (deletes entries of that key with
# seq <= it), 'r' = refused for good (deletes the entry with exactly that seq). Returns {c, r}.
_SETTLE = _LIB + """
local done = {c = 0, r = 0}
local newest = redis.call('GET', KEYS[6])
for i = 2, #ARGV, 3 do
  local ref, seq, how = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local ids = redis.call('HGET', KEYS[3], ref)
  for id in string.gmatch(ids or '', '%S+') do
    local entry = redis.call('XRANGE', KEYS[1], id, id)
    if #entry == 0 then
      unindex(ref, id)
    else
      local have = entry_seq(entry[1][2])
      if (how == 'c' and have <= seq) or (how == 'r' and have == seq) then
        forget(id, entry[1][2])
        done[how] = done[how] + 1
        local ws = field(entry[1][2], 'ws')
        if how == 'c' and ws and (not newest or ws > newest) then newest = ws end
      end
    end
  end
end
if newest then redis.call('SET', KEYS[6], newest) end
redis.call('HINCRBY', KEYS[2], 'receipted', done.c)
redis.call('HINCRBY', KEYS[2], 'refused', done.r)
return {done.c, done.r}
"""

# ARGV: group, ids... Deletes the entries still present; returns how many.
_FORGET = _LIB + """
local removed = 0
for i = 2, #ARGV do
  local entry = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
  redis.pcall('XACK', KEYS[1], ARGV[1], ARGV[i])
  if #entry == 1 then
    forget(ARGV[i], entry[1][2])
    removed = removed + 1
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
    seq: int = 0


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
    last_ack_window: datetime | None  # the newest window ingest's receipts confirmed
    awaiting_receipt: int = 0  # PUBACKed, not yet receipted
    receipted: int = 0
    refused: int = 0  # refused for good by ingest (dead-lettered in the cloud)
    resent: int = 0  # sends after the first, for want of a receipt
    dropped_held: int = 0  # held in the edge app's memory while Redis was unavailable, then dropped
    dropped_clock: int = 0  # stamped again for a window already closed (clock behind): kept out

    @property
    def dropped(self) -> int:
        return self.dropped_full + self.dropped_age + self.dropped_held + self.dropped_clock


@dataclass(frozen=True)
class ResendPolicy:
    """When a sent window with no receipt goes out again: first_s after its first send, doubling with
    every further send up to max_s, each delay jittered so a fleet does not resend in lock-step."""

    first_s: float = 300.0
    max_s: float = 7200.0
    jitter: float = 0.5


class NotDurable(redis.RedisError):
    """The buffer's Redis would acknowledge a write before it is on disk."""


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


def ref_key(ref: AggregateWindow | WindowRef) -> str:
    """camera|window_start: what a receipt names a window by (the device is the receipt's topic)."""
    return f"{ref.camera_id}|{ref.window_start.astimezone(UTC).isoformat()}"


def _entry_time(entry_id: str) -> datetime:
    return datetime.fromtimestamp(int(entry_id.split("-")[0]) / 1000, UTC)


def _now_ms() -> int:
    return int(time.time() * 1000)


class EdgeBuffer:
    """A bounded Redis Stream of AggregateWindow JSON, shared by the edge app and the sync process."""

    def __init__(self, client: redis.Redis, *, stream: str = "storelens:aggregates",
                 max_bytes: int = 256 * 1024 * 1024, max_age_s: float = 30 * 86400,
                 resend: ResendPolicy | None = None) -> None:
        self.client = client
        self.stream = stream
        self.stats_key = f"{stream}:stats"
        self.last_ack_key = f"{stream}:last_ack"
        self.index_key = f"{stream}:index"
        self.due_key = f"{stream}:due"
        self.tries_key = f"{stream}:tries"
        self.seq_key = f"{stream}:seq"
        self.max_bytes = max_bytes
        self.max_age_ms = int(max_age_s * 1000)
        self.resend = resend or ResendPolicy()
        self._rng = random.Random()
        self._append = client.register_script(_APPEND_AND_TRIM)
        self._mark = client.register_script(_MARK_SENT)
        self._settle = client.register_script(_SETTLE)
        self._forget = client.register_script(_FORGET)

    @property
    def _keys(self) -> list[str]:
        return [self.stream, self.stats_key, self.index_key, self.due_key, self.tries_key, self.last_ack_key]

    def append(self, window: AggregateWindow, *, also: Callable[[redis.client.Pipeline], None] | None = None) -> str:
        """Buffer one window; returns its entry id. Drops (and counts) the oldest if over a bound.

        `also` adds commands to the same MULTI (the sink's partial and clock floor), so they and the
        entry are written together or not at all. With appendfsync always, Redis replies only once
        the AOF is fsynced: when this returns, the window is on disk."""
        args = [GROUP, fit_to_wire(window), window_key(window), ref_key(window), window.window_start.isoformat(),
                window.seq, self.max_bytes, self.max_age_ms]
        with self.client.pipeline(transaction=True) as pipe:
            self._append(keys=self._keys, args=args, client=pipe)
            if also:
                also(pipe)
            entry_id, full, old = pipe.execute()[0]
        self._report_drops(full, old)
        return entry_id.decode()

    def next_seq(self) -> int:
        """A version number never handed out before by this buffer: no key is stamped twice with one seq."""
        return int(self.client.incr(self.seq_key))

    def ensure_durable(self) -> None:
        """A window counts as stored only once it is on disk: Redis must fsync each write before it
        replies (appendfsync always). A Redis running everysec is switched to always (cheap at a few
        windows per quarter hour); one without an append-only file is refused."""
        try:
            conf = {_text(k): _text(v) for k, v in self.client.config_get("append*").items()}
        except redis.ResponseError as exc:  # CONFIG renamed away: cannot check, say so once per start
            log.warning("cannot check the edge buffer Redis' fsync policy (%s): it must run appendfsync always", exc)
            return
        if conf.get("appendonly") != "yes":
            raise NotDurable("the edge buffer Redis has appendonly off: windows would not survive a restart "
                             "(set appendonly yes and appendfsync always in its redis.conf)")
        if conf.get("appendfsync") != "always":
            self.client.config_set("appendfsync", "always")
            log.warning("edge buffer Redis ran appendfsync %s: switched it to always, so a window counts as stored "
                        "only once it is on disk (put appendfsync always in its redis.conf)", conf.get("appendfsync"))

    def trim(self) -> tuple[int, int]:
        """Apply the age bound without appending (the sync process calls this during long outages)."""
        _, full, old = self._append(keys=self._keys, args=[GROUP, "", "", "", "", 0, self.max_bytes, self.max_age_ms])
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
        self.reindex()
        cursor, claimed = "0-0", 0
        while True:
            cursor, entries, *_ = self.client.xautoclaim(self.stream, GROUP, consumer, 0, cursor, count=1000)
            claimed += len(entries)
            if cursor in (b"0-0", "0-0"):
                return claimed

    def reindex(self) -> int:
        """Index entries appended by a version without receipts (once): else no receipt could match them."""
        marker = f"{self.stream}:indexed"
        if self.client.exists(marker):
            return 0
        found, start = 0, "-"
        while True:
            items = self.client.xrange(self.stream, start, "+", count=500)
            for raw_id, fields in items:
                if b"ref" not in fields and b"payload" in fields:
                    found += self._index_legacy(raw_id.decode(), fields[b"payload"])
            if len(items) < 500:
                break
            start = "(" + items[-1][0].decode()
        self.client.set(marker, "1")
        if found:
            log.info("edge buffer: indexed %d window(s) buffered before receipts existed", found)
        return found

    def _index_legacy(self, entry_id: str, payload: bytes) -> int:
        try:
            window = AggregateWindow.model_validate_json(payload)
        except ValueError:
            return 0
        ids = self.client.hget(self.index_key, ref_key(window))
        self.client.hset(self.index_key, ref_key(window), f"{ids.decode()} {entry_id}" if ids else entry_id)
        return 1

    def read_batch(self, consumer: str, count: int) -> list[BufferEntry]:
        """Oldest first: this consumer's pending (read, never PUBACKed) entries, then new ones."""
        for start in ("0", ">"):
            entries = self._entries(self._xread(consumer, start, count))
            if entries:
                return entries
        return []

    def due_for_resend(self, count: int, now_ms: int | None = None) -> list[BufferEntry]:
        """Sent windows whose receipt is overdue, oldest due first."""
        ids = self.client.zrangebyscore(self.due_key, "-inf", _now_ms() if now_ms is None else now_ms,
                                         start=0, num=count)
        if not ids:
            return []
        with self.client.pipeline(transaction=False) as pipe:
            for raw_id in ids:
                pipe.xrange(self.stream, raw_id, raw_id)
            found = pipe.execute()
        gone = [raw_id for raw_id, items in zip(ids, found, strict=True) if not items]
        if gone:
            self.client.zrem(self.due_key, *gone)
        return self._entries([(self.stream, [items[0] for items in found if items])])

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
                                       datetime.fromisoformat(fields[b"ws"].decode()), fields[b"payload"],
                                       int(fields.get(b"seq", b"0"))))
        if gone:
            self.client.xack(self.stream, GROUP, *gone)
        return out

    def mark_sent(self, entries: list[BufferEntry], now_ms: int | None = None) -> int:
        """After the broker's PUBACK: sent, awaiting ingest's receipt; due for a resend if none comes."""
        if not entries:
            return 0
        policy = self.resend
        args = [GROUP, _now_ms() if now_ms is None else now_ms, int(policy.first_s * 1000), int(policy.max_s * 1000)]
        for e in entries:
            args += [e.entry_id, f"{jittered(1.0, policy.jitter, self._rng.random):.4f}"]
        return int(self._mark(keys=self._keys, args=args))

    def settle(self, receipt: Receipt) -> tuple[int, int]:
        """Apply ingest's receipt: delete what it committed (that version or older) and what it refused
        for good. Returns (deleted as committed, deleted as refused)."""
        args: list = [GROUP]
        for ref in receipt.committed:
            args += [ref_key(ref), ref.seq, "c"]
        for ref in receipt.refused:
            args += [ref_key(ref), ref.seq, "r"]
        if len(args) == 1:
            return 0, 0
        committed, refused = self._settle(keys=self._keys, args=args)
        return int(committed), int(refused)

    def ack(self, entries: list[BufferEntry]) -> int:
        """Delete these entries now (what a receipt does, by entry id); returns how many were still there."""
        if not entries:
            return 0
        removed = self._forget(keys=self._keys, args=[GROUP, *(e.entry_id for e in entries)])
        newest = max(e.window_start for e in entries)
        self.client.set(self.last_ack_key, newest.isoformat())
        return int(removed)

    def count_dropped(self, reason: str, n: int) -> None:
        """Count windows the edge app dropped before they reached the stream (shown by `sync status`)."""
        if n:
            self.client.hincrby(self.stats_key, reason, n)

    def stats(self) -> BufferStats:
        raw = {k.decode(): int(v) for k, v in self.client.hgetall(self.stats_key).items()}
        first = self.client.xrange(self.stream, "-", "+", count=1)
        oldest_at = _entry_time(first[0][0].decode()) if first else None
        oldest_ws = datetime.fromisoformat(first[0][1][b"ws"].decode()) if first else None
        last_ack = self.client.get(self.last_ack_key)
        counters = {name: raw.get(name, 0) for name in ("appended", "dropped_full", "dropped_age", "receipted",
                                                       "refused", "resent", "dropped_held", "dropped_clock")}
        return BufferStats(
            depth=self.client.xlen(self.stream), bytes=raw.get("bytes", 0), oldest_entry_at=oldest_at,
            oldest_window=oldest_ws, pending=self._pending_count(), awaiting_receipt=self.client.zcard(self.due_key),
            last_ack_window=datetime.fromisoformat(last_ack.decode()) if last_ack else None, **counters,
        )

    def _pending_count(self) -> int:
        try:
            return int(self.client.xpending(self.stream, GROUP)["pending"])
        except redis.ResponseError:  # no group yet: nothing was ever read
            return 0


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


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
                      max_age_s=sync.buffer_max_age_days * 86400,
                      resend=ResendPolicy(first_s=sync.receipt_timeout_s, max_s=sync.receipt_timeout_max_s))
