"""Figure builders and the pure metrics behind them: what goes in is what gets drawn."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from dashboard import figures, metrics
from devkit.demo.floorplan import LABEL_HEIGHT_FRACTION, PLAN_WIDTH_PX, Fixture, data_uri, render_png


def _windows(rows: list[tuple[str, str, int, int]]) -> pd.DataFrame:
    """(store, ISO start UTC, entries, unique) -> a frame shaped like data.windows()."""
    frame = pd.DataFrame(rows, columns=["store_id", "window_start", "entries", "unique_visitors"])
    frame["window_start"] = pd.to_datetime(frame["window_start"], utc=True)
    for col in ("visitors_with_age", "family_visits", "group_visits", "exits"):
        frame[col] = frame["unique_visitors"] // 2
    return frame


@pytest.mark.parametrize(
    ("tz", "start_utc", "local_hour"),
    [("UTC", "2026-06-01T10:00:00", 10), ("Europe/Berlin", "2026-06-01T10:00:00", 12),
     ("Europe/Berlin", "2026-01-15T10:00:00", 11), ("America/New_York", "2026-06-01T02:00:00", 22)],
)
def test_by_hour_uses_store_local_time(tz: str, start_utc: str, local_hour: int) -> None:
    hours = metrics.by_hour(_windows([("s", start_utc, 7, 5)]), tz)
    assert len(hours) == 24
    assert hours.loc[hours["hour"] == local_hour, ["entries", "unique_visitors"]].values.tolist() == [[7, 5]]
    assert hours["entries"].sum() == 7


def test_by_day_groups_by_local_date_across_midnight() -> None:
    frame = _windows([("s", "2026-06-01T21:30:00", 3, 2), ("s", "2026-06-01T22:30:00", 4, 4)])
    days = metrics.by_day(frame, "Europe/Berlin")  # 23:30 and 00:30 local: two different days
    assert days["entries"].tolist() == [3, 4]
    assert [str(d) for d in days["day"]] == ["2026-06-01", "2026-06-02"]


@pytest.mark.parametrize(
    ("spec", "labels", "counts"),
    [("coarse", ["0-17", "18-34", "35-54", "55+"], [18, 17, 20, 36]),
     ([0, 30], ["0-29", "30+"], [30, 61]),
     ([0, 18, 25, 40], ["0-17", "18-24", "25-39", "40+"], [18, 7, 15, 51])],
)
def test_band_mix_rebins_one_year_histogram(spec, labels: list[str], counts: list[int]) -> None:
    mix = metrics.band_mix(np.ones(91, dtype=int), spec)
    assert mix["band"].tolist() == labels
    assert mix["visitors"].tolist() == counts
    assert mix["share"].sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("text", "expected", "error"),
    [("0,18,25,40", (0, 18, 25, 40), None), ("0 13; 20", (0, 13, 20), None),
     ("18,25", None, "must start at 0"), ("0,30,20", None, "strictly increasing"),
     ("0,teen", None, "whole years"), ("0,95", None, "at most 90")],
)
def test_custom_bands_parse_or_say_why_not(text: str, expected, error: str | None) -> None:
    if error is None:
        assert metrics.parse_custom_bands(text) == expected
    else:
        with pytest.raises(ValueError, match=error):
            metrics.parse_custom_bands(text)


@pytest.mark.parametrize(("now", "before", "expected"), [(110, 100, 0.1), (50, 100, -0.5), (5, 0, None)])
def test_change_against_previous_period(now: int, before: int, expected) -> None:
    assert metrics.change(now, before) == (pytest.approx(expected) if expected is not None else None)


def test_compare_table_normalises_by_opening_hours_and_area() -> None:
    stores = pd.DataFrame({"store_id": ["a", "b", "c"], "name": ["A", "B", "C"], "area_m2": [100.0, 400.0, 0.0],
                           "opening_hours_per_week": [70.0, 35.0, 70.0]})
    windows = _windows([("a", "2026-06-01T10:00:00", 700, 700), ("b", "2026-06-01T10:00:00", 700, 700)])
    table = metrics.compare_table(stores, windows, days=7).set_index("store_id")
    assert table.loc["a", "visitors_per_open_hour"] == pytest.approx(10.0)
    assert table.loc["b", "visitors_per_open_hour"] == pytest.approx(20.0)
    assert table.loc["a", "visitors_per_m2"] == pytest.approx(7.0)
    assert table.loc["c", "unique_visitors"] == 0 and table.loc["c", "visitors_per_m2"] == 0.0  # no data, no area
    assert table["rank"].to_dict() == {"b": 1, "a": 2, "c": 3}
    csv = metrics.compare_csv(table.reset_index())
    assert csv.splitlines()[0].startswith("rank,store_id,name,unique_visitors")
    assert len(csv.splitlines()) == 4


def test_day_figure_draws_the_numbers_it_is_given() -> None:
    days = pd.DataFrame({"day": ["2026-06-01", "2026-06-02"], "entries": [5, 8], "unique_visitors": [4, 6]})
    previous = pd.DataFrame({"day": ["2026-05-30", "2026-05-31"], "entries": [1, 1], "unique_visitors": [3, 2]})
    fig = figures.visitors_by_day(days, previous)
    assert [t.name for t in fig.data] == ["Entries", "Unique visitors", "Unique visitors, previous period"]
    assert list(fig.data[0].y) == [5, 8] and list(fig.data[1].y) == [4, 6] and list(fig.data[2].y) == [3, 2]


def test_empty_figure_explains_itself() -> None:
    fig = figures.empty("No visitor data in this date range.")
    assert fig.data == ()
    assert fig.layout.annotations[0].text == "No visitor data in this date range."


def test_heatmap_is_drawn_over_the_floor_plan_with_empty_cells_transparent() -> None:
    counts = np.array([[0, 3], [5, 0]])
    png = render_png(10.0, 8.0, [Fixture("table", 2, 2, 2, 1)], (4.0, 6.0))
    fig = figures.floor_heatmap(counts, 1.0, (10.0, 8.0), data_uri(png))
    z = np.array(fig.data[0].z, dtype=float)
    assert np.isnan(z[0, 0]) and z[0, 1] == 3 and z[1, 0] == 5
    image = fig.layout.images[0]
    assert image.source.startswith("data:image/png;base64,") and (image.sizex, image.sizey) == (10.0, 8.0)
    assert tuple(fig.layout.yaxis.range) == (8.0, 0)  # plan's top row at the top


def test_floor_plan_png_decodes_to_the_floor_size() -> None:
    import cv2

    png = render_png(12.0, 9.0, [Fixture("till", 8, 6, 3, 1)], (5.0, 7.0))
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (round(9 * PLAN_WIDTH_PX / 12), PLAN_WIDTH_PX, 3)  # every plan equally wide
    assert image[0:3, :].mean() < 120  # the wall is drawn


def test_weekly_trend_sums_per_store_and_week() -> None:
    daily = pd.DataFrame({"store_id": ["a", "a", "a", "b"], "unique_visitors": [2, 3, 4, 9],
                          "day": ["2026-06-01", "2026-06-07", "2026-06-08", "2026-06-02"]})  # Mon, Sun, Mon, Tue
    trend = metrics.weekly_trend(daily)
    assert trend.groupby("store_id")["unique_visitors"].apply(list).to_dict() == {"a": [5, 4], "b": [9]}
    assert trend["week"].min() == datetime(2026, 6, 1)


def test_fixture_labels_are_drawn_at_the_stated_height() -> None:
    """The label cap height is LABEL_HEIGHT_FRACTION of the plan width, whatever the floor size."""
    import cv2

    for width_m in (12.0, 32.0):
        png = render_png(width_m, 10.0, [Fixture("TILL", 1, 1, width_m / 2, 4)], (2.0, 4.0))
        image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
        scale = PLAN_WIDTH_PX / width_m
        box = image[int(1 * scale) + 3:int(5 * scale) - 3, int(1 * scale) + 3:int((1 + width_m / 2) * scale) - 3]
        rows = np.nonzero((box < 100).any(axis=1))[0]  # dark text pixels inside the grey fixture
        assert rows.size, "no label drawn"
        height = rows.max() - rows.min() + 1
        assert height == pytest.approx(PLAN_WIDTH_PX * LABEL_HEIGHT_FRACTION, rel=0.25)


@pytest.mark.parametrize(("days", "ticks", "unique"), [(1, 1, True), (7, 7, True), (30, 6, True), (90, 7, True)])
def test_day_axis_labels_each_day_once_and_pads_a_single_day(days: int, ticks: int, unique: bool) -> None:
    shown = [date(2026, 6, 1) + timedelta(days=i) for i in range(days)]
    axis = figures.day_axis(shown)
    assert len(axis["ticktext"]) == ticks and len(set(axis["ticktext"])) == ticks
    assert axis["tickvals"][0] == "2026-06-01"
    start, end = (datetime.fromisoformat(v) for v in axis["range"])
    assert start == datetime(2026, 5, 31, 12) and end == datetime(2026, 6, 1, 12) + timedelta(days=days - 1)


def test_empty_inputs_draw_no_axes() -> None:
    assert figures.day_axis([]) == {"visible": False}
    for fig in (figures.trends(pd.DataFrame(columns=["store_id", "period", "unique_visitors"]), "week"),
                figures.visitors_by_day(pd.DataFrame(columns=["day", "entries", "unique_visitors"]))):
        assert fig.data == () and fig.layout.xaxis.visible is False and fig.layout.annotations


def test_seeded_days_are_hatched_and_explained() -> None:
    days = pd.DataFrame({"day": [date(2026, 6, 1), date(2026, 6, 2)], "entries": [5, 8],
                         "unique_visitors": [4, 6], "seeded": [True, False]})
    fig = figures.visitors_by_day(days)
    assert list(fig.data[0].marker.pattern.shape) == ["/", ""]
    assert fig.data[-1].name == "hatched: demo (seeded) data"
    assert all(t.marker.pattern.shape is None for t in figures.visitors_by_day(days.assign(seeded=False)).data)


def test_today_is_marked_partial_and_gets_no_previous_point() -> None:
    days = pd.DataFrame({"day": [date(2026, 6, 1), date(2026, 6, 2)], "entries": [5, 8], "unique_visitors": [4, 2]})
    previous = pd.DataFrame({"day": [date(2026, 5, 30), date(2026, 5, 31)], "entries": [1, 1],
                             "unique_visitors": [3, 9]})
    fig = figures.visitors_by_day(days, previous, shift_days=2, today=date(2026, 6, 2))
    line = fig.data[2]
    assert [str(x) for x in line.x] == ["2026-06-01", "2026-06-02"] and list(line.y) == [3, None]
    assert list(fig.data[0].marker.opacity) == [1.0, 0.45]
    assert fig.layout.xaxis.ticktext[-1].endswith("<br>(so far)")


@pytest.mark.parametrize(
    ("first", "last", "unit", "left_out"),
    [(date(2026, 6, 3), date(2026, 6, 30), "week", [(date(2026, 6, 3), date(2026, 6, 7)),
                                                    (date(2026, 6, 29), date(2026, 6, 30))]),
     (date(2026, 6, 1), date(2026, 6, 28), "week", []),  # Monday to Sunday: nothing partial
     (date(2026, 6, 3), date(2026, 6, 12), "day", [])],  # under two whole weeks: days
)
def test_trend_leaves_partial_weeks_out(first: date, last: date, unit: str, left_out: list) -> None:
    days = pd.date_range(first, last).date
    daily = pd.DataFrame({"store_id": "a", "day": days, "unique_visitors": 10})
    frame, got_unit, cut = metrics.trend(daily, first, last)
    assert got_unit == unit and cut == left_out
    if unit == "week":
        assert set(frame["unique_visitors"]) == {70}  # every plotted week is whole: no plunge
    else:
        assert len(frame) == len(days)


@pytest.mark.parametrize(
    ("wanted", "labels", "span"),
    [("18-34", ["18-21", "22-25", "26-30", "31-35"], (18, 35)), ("22-25", ["22-25"], (22, 25)),
     ("55+", ["46-55", "56-65", "66+"], (46, 90)), ("0-17", ["0-12", "13-17"], (0, 17))],
)
def test_heat_bands_are_built_from_the_recorded_ones(wanted: str, labels: list[str], span: tuple) -> None:
    recorded = ["0-12", "13-17", "18-21", "22-25", "26-30", "31-35", "36-45", "46-55", "56-65", "66+", "(all)"]
    assert metrics.covering_bands(wanted, recorded) == (labels, span)
    assert metrics.covering_bands("18-34", ["(all)"]) == ([], None)


def test_zone_change_compares_visits_per_day_and_dwell() -> None:
    before = pd.DataFrame({"zone": ["收银台", "tables"], "visits": [140, 70], "mean_dwell_s": [60.0, 30.0]})
    after = pd.DataFrame({"zone": ["收银台", "new wall"], "visits": [70, 7], "mean_dwell_s": [90.0, 10.0]})
    table = metrics.zone_change(before, after, days_before=14, days_after=7).set_index("zone")
    assert table.loc["收银台", "per_day_a"] == 10 and table.loc["收银台", "per_day_b"] == 10
    assert table.loc["收银台", "visits_change"] == 0 and table.loc["收银台", "dwell_change_s"] == 30
    assert table.loc["tables", "per_day_b"] == 0 and table.loc["tables", "visits_change"] == -1
    assert np.isnan(table.loc["new wall", "visits_change"])  # nothing before: no percentage


def test_before_after_maps_take_one_fixed_scale() -> None:
    a, b = np.array([[0, 2.0], [1, 0]]), np.array([[4.0, 0], [0, 1]])
    figs = [figures.floor_heatmap(v, 1.0, (2, 2), None, zmax=4.0) for v in (a, b)]
    assert [(f.data[0].zmin, f.data[0].zmax) for f in figs] == [(0, 4.0), (0, 4.0)]
    diff = figures.heat_difference(b - a, 1.0, (2, 2), None, title="d", subtitle="", limit=4.0, unit="v")
    assert (diff.data[0].zmin, diff.data[0].zmid, diff.data[0].zmax) == (-4.0, 0, 4.0)


def test_long_subtitles_wrap_at_their_separators() -> None:
    text = "all visitors · 09:00–12:00 · Nov 19 – Nov 25, 2026 → Nov 26 – Dec 2, 2026"
    wrapped = figures.wrap(text)
    assert wrapped.count("<br>") >= 1 and wrapped.replace("<br>", " · ") == text
    assert figures.wrap("short · text") == "short · text"


def test_age_mix_by_store_keeps_the_given_order_and_ordered_colours() -> None:
    hist = pd.DataFrame([np.eye(91)[70] * 10, np.eye(91)[20] * 10], index=["senior", "young"])
    hist.index.name = "store_id"
    assert metrics.mean_age(hist).to_dict() == {"senior": 70.0, "young": 20.0}
    order = metrics.mean_age(hist).sort_values().index.tolist()
    assert order == ["young", "senior"]
    fig = figures.mix_by_store(metrics.mix_by_store(hist, "coarse"), order)
    assert [t.name for t in fig.data] == ["0-17", "18-34", "35-54", "55+"]
    assert list(fig.data[0].y) == ["young", "senior"] and fig.layout.barmode == "stack"
    assert list(fig.data[1].x) == [100.0, 0.0]  # 18-34: all of "young", none of "senior"
    assert len({t.marker.color for t in fig.data}) == 4


def test_figures_built_on_many_threads_at_once_do_not_corrupt_each_other():
    """Dash serves callbacks on several threads; a plotly object shared between figures (the template)
    raised "ValueError: Invalid value" when two threads copied it at once. A tiny switch interval makes
    the interpreter change threads inside plotly's copy, where the race was."""
    import sys
    import threading

    previous = sys.getswitchinterval()
    errors: list[str] = []

    def build() -> None:
        try:
            for _ in range(10):
                figures.empty("no data", "Entries", "one store · today").to_plotly_json()
        except Exception as exc:  # collected: an exception in a thread would not fail the test by itself
            errors.append(repr(exc))

    sys.setswitchinterval(2e-5)
    try:
        threads = [threading.Thread(target=build) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous)
    assert errors == []
