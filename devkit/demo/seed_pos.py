"""Synthetic POS sales for the seeded (synthetic) stores, so the demo's conversion views have data.

Derived from each store's seeded entries: per store-local hour, transactions ~ Binomial(entries,
p) with a per-store conversion p between 12 % and 38 %, and revenue ~ transactions x a basket
size in the store's currency. About a third of the stores get no POS data at all, so the
dashboard's "no sales data" state shows too. Only stores marked seeded get rows, and they go in
through the product's own import (cloud_sync.pos), so they obey the same rules as a real file.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Engine

from cloud_sync import pos
from cloud_sync.db.models import AggregateRecord, Store
from dashboard.sales.conversion import local_hour_start

log = logging.getLogger(__name__)

CURRENCY = {"Europe/London": "GBP", "Europe/Warsaw": "PLN"}  # the other seeded zones use EUR
BASKET = {"EUR": 38.0, "GBP": 33.0, "PLN": 160.0}
WITHOUT_POS = 3  # every third seeded store has no till export


def seed_pos(engine: Engine, *, seed: int = 11) -> int:
    """POS hours for two of every three seeded stores; returns how many hours were written."""
    rng = np.random.default_rng(seed)
    S, A = Store.__table__.c, AggregateRecord.__table__.c
    with engine.connect() as conn:
        stores = conn.execute(select(S.store_id, S.timezone).where(S.seeded.is_(True)).order_by(S.store_id)).all()
    rows: list[pos.PosRow] = []
    for index, (store_id, tz) in enumerate(stores):
        if index % WITHOUT_POS == WITHOUT_POS - 1:
            continue
        with engine.connect() as conn:
            windows = pd.DataFrame(conn.execute(select(A.window_start, A.entries).where(A.store_id == store_id)).all(),
                                   columns=["window_start", "entries"])
        if windows.empty:
            continue
        windows["window_start"] = pd.to_datetime(windows["window_start"], utc=True)
        hours = windows.groupby(local_hour_start(windows["window_start"], tz))["entries"].sum()
        rows += _store_rows(store_id, tz, hours, rng)
    if not rows:
        return 0
    summary = pos.import_rows(engine, rows, source="demo seed", imported_by="seed")
    log.info("seeded POS sales: %d hours for %d stores", summary.hours, len(summary.stores))
    return summary.hours


def _store_rows(store_id: str, tz: str, hours: pd.Series, rng: np.random.Generator) -> list[pos.PosRow]:
    rate = rng.uniform(0.12, 0.38)
    currency = CURRENCY.get(tz, "EUR")
    transactions = rng.binomial(hours.to_numpy().clip(min=0), rate)
    baskets = rng.normal(BASKET[currency], BASKET[currency] * 0.2, len(hours)).clip(min=1.0)
    return [pos.PosRow("seed", store_id, start.to_pydatetime(), int(t), round(float(t * b), 2) if t else None,
                       currency if t else None)
            for start, t, b in zip(hours.index, transactions, baskets, strict=True)]
