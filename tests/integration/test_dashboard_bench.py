"""`storelens bench dashboard` runs end to end and prints one timing row per page and callback."""

from __future__ import annotations

import re

import pytest

from storelens.cli import main

pytestmark = [pytest.mark.integration]


def test_bench_prints_p50_p95_for_every_request(capsys) -> None:
    assert main(["bench", "dashboard", "--stores", "2", "--days", "3", "--repeat", "2"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"seeded 2 stores x 3 days = \d+ windows", out)
    rows = re.findall(r"^(page .+?|store .+?|layout .+?|compare .+?|devices .+?)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", out, re.M)
    names = [r[0].strip() for r in rows]
    assert len(rows) == 16 and "page /compare" in names and "compare age mix, 90 days, all stores" in names
    assert all(float(p50) <= float(p95) <= float(mx) for _n, p50, p95, mx in rows)
