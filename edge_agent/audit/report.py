"""What an audit found, as numbers (JSON) and as the lines a technician reads."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_agent.audit.scoring import TrackingScore


def count_accuracy(expected_in: int, expected_out: int, counted_in: int, counted_out: int) -> float:
    """1 - (|in error| + |out error|) / expected crossings, floored at 0; 1.0 when none expected and none counted."""
    errors = abs(counted_in - expected_in) + abs(counted_out - expected_out)
    crossings = expected_in + expected_out
    if crossings == 0:
        return 1.0 if errors == 0 else 0.0
    return max(0.0, 1.0 - errors / crossings)


@dataclass(frozen=True)
class LineResult:
    name: str
    counted_in: int
    counted_out: int
    expected_in: int | None = None  # None: no reference for this line (a hand count covers all lines)
    expected_out: int | None = None
    errors: int | None = None  # for a sum over lines: their own errors added up (they must not cancel)

    @property
    def accuracy(self) -> float | None:
        if self.expected_in is None or self.expected_out is None:
            return None
        if self.errors is not None:
            crossings = self.expected_in + self.expected_out
            return (1.0 if self.errors == 0 else 0.0) if crossings == 0 else max(0.0, 1 - self.errors / crossings)
        return count_accuracy(self.expected_in, self.expected_out, self.counted_in, self.counted_out)

    @property
    def error_count(self) -> int | None:
        if self.expected_in is None or self.expected_out is None:
            return None
        return abs(self.counted_in - self.expected_in) + abs(self.counted_out - self.expected_out)

    def as_dict(self) -> dict:
        acc = self.accuracy
        return {"name": self.name, "expected_in": self.expected_in, "expected_out": self.expected_out,
                "counted_in": self.counted_in, "counted_out": self.counted_out,
                "accuracy": None if acc is None else round(acc, 4)}


@dataclass(frozen=True)
class VisitorResult:
    counted: int
    expected: int | None

    @property
    def error(self) -> float | None:
        """Signed relative error (counted - expected) / expected; None without a reference."""
        if not self.expected:
            return None
        return (self.counted - self.expected) / self.expected


@dataclass
class AuditReport:
    video: str
    reference: str  # "ground truth FILE" or "hand count"
    frames: int
    fps: float
    lines: list[LineResult]
    total: LineResult
    visitors: VisitorResult
    tracks: TrackingScore | None = None  # tracker ids against ground truth
    visitor_tracks: TrackingScore | None = None  # the same boxes under their re-ID visitor ids
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        err = self.visitors.error
        return {
            "video": self.video, "reference": self.reference, "frames": self.frames, "fps": round(self.fps, 2),
            "lines": [line.as_dict() for line in self.lines], "total": self.total.as_dict(),
            "unique_visitors": {"counted": self.visitors.counted, "expected": self.visitors.expected,
                                "error_pct": None if err is None else round(100 * err, 2)},
            "tracking": None if self.tracks is None else {
                "tracks": self.tracks.as_dict(),
                "visitors": None if self.visitor_tracks is None else self.visitor_tracks.as_dict()},
            "notes": self.notes,
        }

    def text(self) -> list[str]:
        out = [f"audit            {self.video}: {self.frames} frames at {self.fps:.1f} fps, against {self.reference}",
               f"{'line':<18} {'in: expected':>12} {'counted':>8} {'out: expected':>14} {'counted':>8} {'accuracy':>9}"]
        out += [_line_row(line) for line in [*self.lines, self.total]]
        err = self.visitors.error
        expected = "no reference" if self.visitors.expected is None else f"{self.visitors.expected} expected"
        out.append(f"unique visitors  {self.visitors.counted} counted, {expected}"
                   + ("" if err is None else f": error {100 * err:+.1f} %"))
        if self.tracks is not None:
            out.append(f"tracking         person tracks: {_tracking(self.tracks)}")
        if self.visitor_tracks is not None:
            out.append(f"                 visitors (tracks joined by re-ID): {_tracking(self.visitor_tracks)}")
        out += [f"note             {n}" for n in self.notes]
        return out


def _line_row(line: LineResult) -> str:
    acc = line.accuracy
    show = lambda v: "-" if v is None else str(v)  # noqa: E731
    return (f"{line.name:<18} {show(line.expected_in):>12} {line.counted_in:>8} {show(line.expected_out):>14} "
            f"{line.counted_out:>8} {'-' if acc is None else f'{acc:.3f}':>9}")


def _tracking(s: TrackingScore) -> str:
    return (f"{s.id_switches} ID switches, IDF1 {s.idf1:.3f}, MOTA {s.mota:.3f}, {s.fragmentations} fragmentations, "
            f"{s.ids} ids for {s.gt_ids} people")
