"""Count fields are declared once, on the wire model (`Summed` / `Peak`); everything that builds,
merges, totals, prints or stores a window must follow that list. Each check gives every count field
its own value, so a count forgotten anywhere (a hand-written list, a missing column) fails here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edge_agent.aggregate import Windower
from edge_agent.analyze import count_totals
from edge_agent.resume import merge_windows
from storelens.wire import COUNT_FIELDS, PEAK_FIELDS, SUMMED_FIELDS, AggregateWindow

START = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
NOT_COUNTS = {"seq", "schema_version"}  # integers that are versions, not counts


def _window(offset: int, **extra) -> AggregateWindow:
    """Every count field a different value; visitors_with_age fits the age histogram."""
    counts = {name: 10 * (i + 1) + offset for i, name in enumerate(COUNT_FIELDS)}
    ages = [0] * 91
    ages[30] = counts["visitors_with_age"]
    return AggregateWindow(store_id="s1", device_id="d1", camera_id="cam1", window_start=START,
                           window_end=START + timedelta(minutes=15), age_histogram=ages, **counts, **extra)


def test_every_integer_field_of_the_window_has_a_merge_rule() -> None:
    # A new `x: Count = 0` without Summed/Peak is an integer without a rule: merges would drop it.
    integers = {name for name, info in AggregateWindow.model_fields.items() if info.annotation is int}
    assert integers - NOT_COUNTS == set(COUNT_FIELDS)
    assert set(SUMMED_FIELDS).isdisjoint(PEAK_FIELDS) and set(COUNT_FIELDS) == {*SUMMED_FIELDS, *PEAK_FIELDS}
    assert {"entries", "unique_visitors", "occupancy_max"} <= set(COUNT_FIELDS)


def test_the_edge_window_builder_carries_every_count() -> None:
    windower = Windower(15)
    windower.advance(START)
    counts = windower.current
    assert set(counts.counts) == set(COUNT_FIELDS)
    values = {name: 10 * (i + 1) for i, name in enumerate(COUNT_FIELDS)}
    counts.counts.update(values)
    counts.ages = [30.0] * values["visitors_with_age"]
    built = counts.build(("s1", "d1", "cam1"), 0, (0.5, 0, 0), {})
    assert {name: getattr(built, name) for name in COUNT_FIELDS} == values
    with pytest.raises(KeyError):
        counts.add("unique_visitor", 1)  # a typo is an error, not a silent new count


def test_merging_two_halves_follows_each_fields_rule() -> None:
    first, second = _window(1), _window(2, seq=3)
    merged = merge_windows(first, second)
    for name in SUMMED_FIELDS:
        assert getattr(merged, name) == getattr(first, name) + getattr(second, name), name
    for name in PEAK_FIELDS:
        assert getattr(merged, name) == max(getattr(first, name), getattr(second, name)), name


def test_analyze_totals_and_printout_cover_every_count() -> None:
    from storelens.cli.cmd_analyze import _count_lines

    windows = [_window(1), _window(2)]
    totals = count_totals(windows)
    assert list(totals) == list(COUNT_FIELDS)
    for name in SUMMED_FIELDS:
        assert totals[name] == sum(getattr(w, name) for w in windows)
    printed = "\n".join(_count_lines({**totals, "seconds": 1.0, "fps": 1.0}))
    for name in COUNT_FIELDS:
        assert str(totals[name]) in printed, name


def test_the_cloud_table_stores_every_count(tmp_path) -> None:
    from sqlmodel import Session, select

    from cloud_sync.db.engine import init_db, make_engine
    from cloud_sync.db.models import AggregateRecord
    from cloud_sync.db.repository import store_windows

    assert set(COUNT_FIELDS) <= set(AggregateRecord.model_fields)
    engine = make_engine(f"sqlite:///{tmp_path / 'cloud.db'}")
    init_db(engine)  # the migrations, as production creates the schema
    window = _window(5)
    with Session(engine) as session:
        store_windows(session, windows=[window])
        session.commit()
        row = session.exec(select(AggregateRecord)).one()
    assert {name: getattr(row, name) for name in COUNT_FIELDS} == {name: getattr(window, name) for name in COUNT_FIELDS}


def test_the_dashboard_reads_every_count() -> None:
    from dashboard.data import COUNT_COLUMNS

    assert set(COUNT_FIELDS) <= set(COUNT_COLUMNS)
