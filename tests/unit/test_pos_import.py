"""POS import: the CSV rules (offsets, store-local time across DST, bad rows with line numbers),
all-or-nothing, idempotent replacement, the CLI, and conversion built from it."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from cloud_sync import pos
from cloud_sync.db.engine import init_db, make_engine
from cloud_sync.db.models import AggregateRecord, PosHour, Store
from dashboard.sales import conversion
from storelens.cli import main

ZONES = {"ber": "Europe/Berlin", "del": "Asia/Kolkata", "utc": "UTC"}
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
HEADER = "store_id,hour_start,transactions,revenue,currency\n"


@pytest.fixture()
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    engine = make_engine(url)
    init_db(engine)
    with Session(engine) as s:
        s.add_all([Store(store_id=k, name=k.upper(), timezone=v) for k, v in ZONES.items()])
        s.commit()
    yield url, engine
    engine.dispose()


def stored(engine) -> dict:
    with engine.connect() as conn:
        rows = conn.execute(select(PosHour.__table__.c.store_id, PosHour.__table__.c.hour_start,
                                   PosHour.__table__.c.transactions, PosHour.__table__.c.revenue)).all()
    return {(s, h.replace(tzinfo=UTC) if h.tzinfo is None else h): (t, r) for s, h, t, r in rows}


@pytest.mark.parametrize(("hour", "store", "utc"), [
    ("2026-03-29T09:00:00+02:00", "ber", "2026-03-29T07:00"),  # offset given: taken as is
    ("2026-03-29 09:00", "ber", "2026-03-29T07:00"),  # local, summer time (CEST)
    ("2026-03-28 09:00", "ber", "2026-03-28T08:00"),  # local, the day before: winter time (CET)
    ("2026-10-25 02:00+01:00", "ber", "2026-10-25T01:00"),  # the second 02:00 of the fall-back night
    ("2026-10-25 02:00+02:00", "ber", "2026-10-25T00:00"),  # the first one
    ("2026-03-29 09:00", "del", "2026-03-29T03:30"),  # a +05:30 zone: local hours start at :30 UTC
    ("2026-03-29T07:00:00Z", "utc", "2026-03-29T07:00"),
])
def test_hour_start_forms_and_dst(hour, store, utc):
    rows = pos.parse_csv(f"{HEADER}{store},{hour},5,,\n", ZONES, now=NOW)
    assert rows[0].hour_start == datetime.fromisoformat(utc).replace(tzinfo=UTC)


@pytest.mark.parametrize(("line", "reason"), [
    ("ber,2026-03-29 02:30,5,,", "does not exist (clocks jump forward) in Europe/Berlin; give it with its UTC offset"),
    ("ber,2026-10-25 02:00,5,,", "happens twice (clocks go back) in Europe/Berlin"),
    ("ber,2026-03-29 09:30,5,,", "is not the start of an hour in the store's time zone Europe/Berlin"),
    ("del,2026-03-29T09:00:00+00:00,5,,", "is not the start of an hour in the store's time zone Asia/Kolkata"),
    ("ber,yesterday,5,,", "is not a date and time"),
    ("ber,2026-12-01 09:00,5,,", "has not started yet"),
    ("ber,2026-03-29 09:00,-1,,", "transactions -1 is outside"),
    ("ber,2026-03-29 09:00,4.5,,", "transactions '4.5' is not a whole number"),
    ("ber,2026-03-29 09:00,5,12.5,", "currency '' is not an ISO 4217 code"),
    ("ber,2026-03-29 09:00,5,12.5,euro", "currency 'EURO' is not an ISO 4217 code"),
    ("ber,2026-03-29 09:00,5,12.345678,EUR", "at most 13 digits before and 4 after"),
    ("ber,2026-03-29 09:00,5,,EUR", "currency EUR given without revenue"),
    ("nyc,2026-03-29 09:00,5,,", "store_id 'nyc' is not a store you may import into"),
    ("ber,2026-03-29 09:00,5", "3 fields, the header has 5"),
])
def test_a_bad_row_is_named_with_its_line_and_reason(line, reason):
    text = f"{HEADER}ber,2026-03-29 08:00,5,,\n\n{line}\n"
    with pytest.raises(pos.PosImportError) as caught:
        pos.parse_csv(text, ZONES, source="sales.csv", now=NOW)
    assert caught.value.problems[0][0] == "line 4"  # blank line 3 skipped, numbering kept
    assert reason in caught.value.problems[0][1]
    assert str(caught.value).startswith("sales.csv: nothing imported, 1 problem(s): line 4: ")


def test_every_problem_is_listed_and_duplicates_point_to_the_first():
    text = (HEADER + "ber,2026-03-29 08:00,5,10,EUR\nber,2026-03-29 08:00,6,,\nber,2026-03-29 09:00,x,,\n"
            "ber,2026-03-29 10:00,5,10,GBP\n")
    with pytest.raises(pos.PosImportError) as caught:
        pos.parse_csv(text, ZONES, now=NOW)
    where = [w for w, _r in caught.value.problems]
    assert where == ["line 3", "line 4", "line 5"]
    assert "already given on line 2" in caught.value.problems[0][1]
    assert "differs from EUR on line 2" in caught.value.problems[2][1]


@pytest.mark.parametrize(("header", "reason"), [
    ("store_id,hour,transactions", "missing column 'hour_start'"),
    ("store_id,hour_start,transactions,notes", "unknown column 'notes'"),
    ("store_id,hour_start,transactions,transactions", "column 'transactions' appears twice"),
])
def test_the_header_is_checked(header, reason):
    with pytest.raises(pos.PosImportError, match=reason):
        pos.parse_csv(f"{header}\nber,2026-03-29 08:00,5\n", ZONES, now=NOW)


def test_excel_style_semicolons_decimal_comma_and_bom():
    text = "\ufeffstore_id;hour_start;transactions;revenue;currency\r\nber;2026-03-29 08:00;5;1234,50;eur\r\n"
    row = pos.parse_csv(text, ZONES, now=NOW)[0]
    assert (row.transactions, row.revenue, row.currency) == (5, 1234.5, "EUR")


def test_nothing_is_half_imported_and_reimport_replaces(db):
    _url, engine = db
    good = HEADER + "".join(f"ber,2026-03-29 {h:02d}:00,{h},{h}.5,EUR\n" for h in range(9, 19))
    first = pos.import_csv(engine, good, allowed_stores=None, source="day1.csv")
    assert (first.hours, first.replaced, first.stores) == (10, 0, ("ber",))
    before = stored(engine)
    bad = HEADER + "".join(f"ber,2026-03-29 {h:02d}:00,{h + 100},,\n" for h in range(9, 19)) + "ber,nope,1,,\n"
    with pytest.raises(pos.PosImportError, match="line 12"):
        pos.import_csv(engine, bad, allowed_stores=None, source="broken.csv")
    assert stored(engine) == before  # the 10 good rows of the broken file were not written
    fixed = HEADER + "ber,2026-03-29 10:00,99,,\nber,2026-03-29 20:00,7,,\n"
    again = pos.import_csv(engine, fixed, allowed_stores=None, source="fix.csv")
    assert (again.hours, again.replaced) == (2, 1)
    after = stored(engine)
    assert len(after) == 11
    assert after[("ber", datetime(2026, 3, 29, 8, tzinfo=UTC))] == (99, None)  # 10:00 CEST replaced
    assert after[("ber", datetime(2026, 3, 29, 7, tzinfo=UTC))] == (9, 9.5)  # 09:00 untouched
    pos.import_csv(engine, fixed, allowed_stores=None, source="fix.csv")
    assert stored(engine) == after  # the same file twice: the same rows


def test_a_manager_may_import_only_their_stores(db):
    _url, engine = db
    text = HEADER + "ber,2026-03-29 08:00,5,,\nutc,2026-03-29 08:00,5,,\n"
    with pytest.raises(pos.PosImportError) as caught:
        pos.import_csv(engine, text, allowed_stores=["ber"], source="x.csv")
    assert caught.value.problems == [("line 3", "store_id 'utc' is not a store you may import into")]
    assert stored(engine) == {}


def test_cli_import_good_file_then_bad_file(db, tmp_path, capsys):
    url, engine = db
    cfg = tmp_path / "cloud.yaml"
    cfg.write_text(f"cloud: {{database_url: '{url}'}}\n")
    good = tmp_path / "sales.csv"
    good.write_text(HEADER + "ber,2026-03-29T09:00:00+02:00,42,1234.50,EUR\nutc,2026-03-29 10:00,7,,\n")
    assert main(["cloud", "pos", "import", str(good), "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "sales.csv: 2 hours imported for ber, utc (0 replaced earlier imports)" in out
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "ber,2026-03-30 09:00,1,,\nber,2026-03-30 10:00,-4,,\n")
    assert main(["cloud", "pos", "import", str(bad), "--config", str(cfg)]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["storelens: error: bad.csv: nothing imported, 1 problem(s): line 3: transactions -4 is "
                   "outside 0..1000000"]
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(PosHour.__table__)) == 2


def test_cli_reads_standard_input_and_dry_run_writes_nothing(db, tmp_path, monkeypatch, capsys):
    url, engine = db
    cfg = tmp_path / "cloud.yaml"
    cfg.write_text(f"cloud: {{database_url: '{url}'}}\n")
    data = (HEADER + "ber,2026-03-29 09:00,3,,\n").encode()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["cloud", "pos", "import", "-", "--dry-run", "--config", str(cfg)]) == 0
    assert "1 hours for 1 store(s) are valid; nothing imported" in capsys.readouterr().out
    assert stored(engine) == {}


def _windows(store: str, starts: list[str], entries: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"store_id": store, "window_start": pd.to_datetime(starts, utc=True), "entries": entries})


def test_conversion_counts_only_hours_with_pos_data():
    windows = _windows("ber", ["2026-03-29T06:00Z", "2026-03-29T06:45Z", "2026-03-29T07:15Z", "2026-03-29T15:00Z"],
                       [10, 10, 40, 50])
    sales = pd.DataFrame({"store_id": ["ber", "ber"],
                          "hour_start": pd.to_datetime(["2026-03-29T06:00Z", "2026-03-29T07:00Z"], utc=True),
                          "transactions": [5, 10], "revenue": [50.0, None], "currency": ["EUR", None]})
    hours = conversion.hourly(windows, sales, "Europe/Berlin")
    assert list(hours["conversion"].round(3).fillna(-1)) == [0.25, 0.25, -1]  # 08:00, 09:00 local; 17:00 no POS
    day = conversion.daily(hours, "Europe/Berlin").iloc[0]
    assert (day["entries"], day["entries_with_pos"], day["transactions"], day["pos_hours"]) == (110, 60, 15, 2)
    assert day["conversion"] == pytest.approx(0.25) and day["revenue"] == 50.0 and day["currency"] == "EUR"
    assert conversion.totals(hours)["conversion"] == pytest.approx(0.25)


def test_a_pos_hour_without_entries_has_no_conversion_not_infinity():
    sales = pd.DataFrame({"store_id": ["ber"], "hour_start": pd.to_datetime(["2026-03-29T06:00Z"], utc=True),
                          "transactions": [5], "revenue": [None], "currency": [None]})
    hours = conversion.hourly(_windows("ber", [], []), sales, "Europe/Berlin")
    assert hours["conversion"].isna().all() and conversion.totals(hours)["conversion"] is None


def test_demo_seed_gives_two_of_three_seeded_stores_plausible_sales(tmp_path):
    from devkit.demo.seed import seed_history
    from devkit.demo.seed_pos import seed_pos

    engine = make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    init_db(engine)
    seed_history(engine, stores=3, days=5)
    assert seed_pos(engine) > 0
    with engine.connect() as conn:
        per_store = dict(conn.execute(select(PosHour.__table__.c.store_id, func.sum(PosHour.__table__.c.transactions))
                                      .group_by(PosHour.__table__.c.store_id)).all())
        entries = dict(conn.execute(select(AggregateRecord.__table__.c.store_id, func.sum(AggregateRecord.__table__.c.entries))
                                    .group_by(AggregateRecord.__table__.c.store_id)).all())
    assert sorted(per_store) == ["seed-001", "seed-002"]  # seed-003 keeps the "no sales data" state
    for store_id, transactions in per_store.items():
        assert 0.08 < transactions / entries[store_id] < 0.45
    engine.dispose()
