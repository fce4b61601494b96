"""Resume after a restart without losing the half window flushed at shutdown.

Windows are aligned to the clock, so a box stopped at 10:07 and back at 10:09 produces two
windows with the same key (10:00). The cloud keeps one row per key, so the second would replace
the first. Instead the flushed partial is remembered in Redis, and when the same key closes
again the two are merged into one window with a higher `seq`, which replaces either in the cloud.
Visitors seen in both halves are counted twice: the re-ID gallery does not survive a restart.
"""

from __future__ import annotations

from datetime import datetime

from edge_agent.aggregate import merge_cells
from edge_agent.buffer import window_key
from storelens.wire import PEAK_FIELDS, SUMMED_FIELDS, AggregateWindow, Heatmap, ZoneStats


def _heatmap(a: Heatmap, b: Heatmap) -> Heatmap:
    shape = b if b.width_cells else a
    bands = {band: merge_cells(a.by_band.get(band, []), b.by_band.get(band, [])) for band in {*a.by_band, *b.by_band}}
    return Heatmap(cell_m=shape.cell_m, width_cells=shape.width_cells, height_cells=shape.height_cells,
                   cells=merge_cells(a.cells, b.cells), by_band=bands)


def _zones(a: dict[str, ZoneStats], b: dict[str, ZoneStats]) -> dict[str, ZoneStats]:
    out = {}
    for name in {*a, *b}:
        za, zb = a.get(name, ZoneStats()), b.get(name, ZoneStats())
        visits = za.visits + zb.visits
        mean = (za.mean_dwell_s * za.visits + zb.mean_dwell_s * zb.visits) / visits if visits else 0.0
        out[name] = ZoneStats(visits=visits, mean_dwell_s=mean)
    return out


def merge_windows(first: AggregateWindow, second: AggregateWindow) -> AggregateWindow:
    """One window holding both halves of the same key; its seq is above both."""
    if first.key != second.key:
        raise ValueError(f"cannot merge windows with different keys {first.key} and {second.key}")
    update = {name: getattr(first, name) + getattr(second, name) for name in SUMMED_FIELDS}
    update.update({name: max(getattr(first, name), getattr(second, name)) for name in PEAK_FIELDS})
    update.update(
        gap_seconds=min(86_400.0, first.gap_seconds + second.gap_seconds),
        age_histogram=[x + y for x, y in zip(first.age_histogram, second.age_histogram, strict=True)],
        dwell_seconds_histogram=second.dwell_seconds_histogram.model_copy(update={"counts": [
            x + y for x, y in zip(first.dwell_seconds_histogram.counts, second.dwell_seconds_histogram.counts,
                                  strict=True)]}),
        zone_visits=_zones(first.zone_visits, second.zone_visits),
        heatmap=_heatmap(first.heatmap, second.heatmap),
        seq=max(first.seq, second.seq) + 1,
    )
    return AggregateWindow.model_validate({**second.model_dump(), **{k: _dump(v) for k, v in update.items()}})


def _dump(value):
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


class PartialStore:
    """Windows flushed at shutdown, by key, in a Redis hash beside the buffer (AOF-backed too), and the
    clock floor: per camera, the newest instant already covered by a stamped window.

    The floor is a closed window's `window_end` (that key may never be stamped again) and a partial's
    `window_start` (that key is still open: a restart within it merges into it). A clock reading
    before the floor would re-stamp a window the cloud already holds.
    """

    def __init__(self, client, *, stream: str) -> None:
        self.client = client
        self.key = f"{stream}:partials"
        self.floor_key = f"{stream}:floor"
        self.newest_key = f"{stream}:newest_window"  # the floor before it was per camera (window starts)

    def remember(self, window: AggregateWindow) -> None:
        self.client.hset(self.key, window_key(window), window.to_json())

    def peek(self, window: AggregateWindow) -> AggregateWindow | None:
        """The partial flushed earlier for this window's key, if any (left in place: `settle` removes it
        in the same transaction that buffers the merged window)."""
        raw = self.client.hget(self.key, window_key(window))
        return AggregateWindow.model_validate_json(raw) if raw is not None else None

    def take(self, window: AggregateWindow) -> AggregateWindow | None:
        """The partial flushed earlier for this window's key (removed from the store), if any."""
        earlier = self.peek(window)
        if earlier is not None:
            self.client.hdel(self.key, window_key(window))
        return earlier

    def settle(self, window: AggregateWindow, *, partial: bool, pipe) -> None:
        """Queue on `pipe` (the buffer's MULTI): keep `window` as the key's partial, or drop the key's
        partial now that a final version is buffered; and raise this camera's floor."""
        if partial:
            pipe.hset(self.key, window_key(window), window.to_json())
        else:
            pipe.hdel(self.key, window_key(window))
        covered = window.window_start if partial else window.window_end
        floor = self.floor_of(window.camera_id)
        if floor is None or covered > floor:
            pipe.hset(self.floor_key, window.camera_id, covered.isoformat())

    def forget_before(self, window: AggregateWindow) -> int:
        """Drop this camera's partials that ended by `window`'s start: their key cannot close again.

        Without this, a partial flushed before a restart that outlasted its window would stay in
        Redis for ever. Returns how many were dropped.
        """
        dropped = 0
        for name, raw in self.client.hgetall(self.key).items():
            old = AggregateWindow.model_validate_json(raw)
            if old.device_id == window.device_id and old.camera_id == window.camera_id \
                    and old.window_end <= window.window_start:
                dropped += self.client.hdel(self.key, name)
        return dropped

    def note_stamped(self, window: AggregateWindow, *, partial: bool = False) -> None:
        """Raise the floor for a window stamped outside the sink's transaction."""
        with self.client.pipeline(transaction=True) as pipe:
            covered = window.window_start if partial else window.window_end
            floor = self.floor_of(window.camera_id)
            if floor is None or covered > floor:
                pipe.hset(self.floor_key, window.camera_id, covered.isoformat())
            pipe.execute()

    def floor_of(self, camera_id: str) -> datetime | None:
        raw = self.client.hget(self.floor_key, camera_id)
        return datetime.fromisoformat(raw.decode()) if raw else None

    def newest(self) -> datetime | None:
        """The highest floor of any camera: the wall clock must not read earlier before stamping."""
        values = [datetime.fromisoformat(v.decode()) for v in self.client.hvals(self.floor_key)]
        legacy = self.client.get(self.newest_key)
        if legacy:
            values.append(datetime.fromisoformat(legacy.decode()))
        return max(values) if values else None

    def clear_floor(self) -> datetime | None:
        """Forget the floor (`storelens sync clear-clock-floor`); returns the newest one forgotten."""
        newest = self.newest()
        self.client.delete(self.floor_key, self.newest_key)
        return newest

    def lower_floor(self, to: datetime) -> list[str]:
        """Bring every floor above `to` down to it: windows stamped by a clock that ran ahead must not
        block a box whose clock is right now. Returns the cameras whose floor moved."""
        moved = [k.decode() for k, v in self.client.hgetall(self.floor_key).items()
                 if datetime.fromisoformat(v.decode()) > to]
        with self.client.pipeline(transaction=True) as pipe:
            for camera in moved:
                pipe.hset(self.floor_key, camera, to.isoformat())
            pipe.delete(self.newest_key)
            pipe.execute()
        return moved
