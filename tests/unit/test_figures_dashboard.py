"""Figure builders and the pure metrics behind them: what goes in is what gets drawn."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from dashboard import figures, metrics
from devkit.demo.floorplan import Fixture, data_uri, render_png


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
    assert image.shape == (9 * 20, 12 * 20, 3)
    assert image[0:3, :].mean() < 120  # the wall is drawn


def test_weekly_trend_sums_per_store_and_week() -> None:
    daily = pd.DataFrame({"store_id": ["a", "a", "a", "b"], "unique_visitors": [2, 3, 4, 9],
                          "day": ["2026-06-01", "2026-06-07", "2026-06-08", "2026-06-02"]})  # Mon, Sun, Mon, Tue
    trend = metrics.weekly_trend(daily)
    assert trend.groupby("store_id")["unique_visitors"].apply(list).to_dict() == {"a": [5, 4], "b": [9]}
    assert trend["week"].min() == datetime(2026, 6, 1)
