"""Demo seed data: deterministic, realistic, fast."""

from __future__ import annotations

import time

from civis_jupyter.platform.seed import STATION_NAMES, seed_warehouse
from civis_jupyter.platform.warehouse import Warehouses


def test_seed_builds_the_demo_tables_quickly_and_deterministically(tmp_path):
    ws = Warehouses(tmp_path)
    try:
        a, b = ws.get(1), ws.get(2)
        started = time.monotonic()
        counts = seed_warehouse(a)
        assert time.monotonic() - started < 5
        assert counts["public.cta_ridership_daily"] == 145 * 4748
        assert counts["public.customer_churn"] == 5000
        seed_warehouse(b)
        digest = (
            "SELECT sum(hash(station_id, stationname, date, daytype, rides)) "
            "FROM cta_ridership_daily"
        )
        assert a.execute(digest).rows == b.execute(digest).rows
        assert seed_warehouse(a) == counts  # reseeding replaces, never duplicates
    finally:
        ws.close()


def test_ridership_has_weekday_weekend_patterns_and_valid_values(tmp_path):
    ws = Warehouses(tmp_path)
    try:
        wh = ws.get(1)
        seed_warehouse(wh)
        by_type = dict(
            wh.execute("SELECT daytype, avg(rides) FROM cta_ridership_daily GROUP BY 1").rows
        )
        assert by_type["W"] > by_type["A"] > by_type["U"] > 0
        stats = wh.execute(
            "SELECT count(DISTINCT station_id), count(DISTINCT stationname), "
            "min(date), max(date), min(rides) FROM cta_ridership_daily"
        ).rows[0]
        assert stats[:2] == (145, 145) and stats[4] >= 0
        assert str(stats[2]) == "2011-01-01" and str(stats[3]) == "2023-12-31"
        assert len(set(STATION_NAMES)) == 145
        cols = [c.name for c in wh.table("public", "cta_ridership_daily").columns]
        assert cols == ["station_id", "stationname", "date", "daytype", "rides"]
    finally:
        ws.close()


def test_churn_label_depends_on_features(tmp_path):
    ws = Warehouses(tmp_path)
    try:
        wh = ws.get(1)
        seed_warehouse(wh)
        low, high = wh.execute(
            "SELECT avg(churned) FILTER (WHERE support_calls = 0), "
            "avg(churned) FILTER (WHERE support_calls >= 6) FROM customer_churn"
        ).rows[0]
        assert 0 < low < high < 1
        assert wh.schemas() == ["brandable_customers", "public", "scratch"]
    finally:
        ws.close()
