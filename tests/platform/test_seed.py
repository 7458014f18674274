"""Demo seed data: deterministic and realistic."""

from __future__ import annotations

import pytest

from civis_jupyter.platform.seed import (
    DEMO_CUSTOMERS,
    DEMO_LABELLED,
    STATION_NAMES,
    seed_warehouse,
)
from civis_jupyter.platform.warehouse import Warehouses


def test_seed_builds_the_demo_tables_deterministically(tmp_path):
    ws = Warehouses(tmp_path)
    try:
        a, b = ws.get(1), ws.get(2)
        counts = seed_warehouse(a)
        assert counts["public.cta_ridership_daily"] == 145 * 4748
        assert counts["public.customer_churn"] == DEMO_CUSTOMERS
        assert counts["brandable_customers.brandable_all_users"] == DEMO_CUSTOMERS
        assert counts["brandable_customers.brandable_pilot"] == DEMO_LABELLED
        seed_warehouse(b)
        digests = [
            "SELECT sum(hash(station_id, stationname, date, daytype, rides)) "
            "FROM cta_ridership_daily",
            "SELECT sum(hash(COLUMNS(*))) FROM brandable_customers.brandable_all_users",
            "SELECT sum(hash(brandable_user_id, upgrade)) FROM brandable_customers.brandable_pilot",
            "SELECT sum(hash(brandable_user_id, churned)) FROM customer_churn",
        ]
        for digest in digests:
            assert a.execute(digest).rows == b.execute(digest).rows, digest
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


_CUSTOMER_COLUMNS = {
    "brandable_user_id": "INTEGER",
    "age": "INTEGER",
    "plan": "VARCHAR",
    "tenure_months": "INTEGER",
    "monthly_spend": "DOUBLE",
    "support_calls": "INTEGER",
    "region": "VARCHAR",
    "signup_channel": "VARCHAR",
    "devices": "INTEGER",
    "sessions_last_30d": "INTEGER",
    "avg_session_minutes": "DOUBLE",
    "email_opt_in": "BOOLEAN",
}


def test_customers_have_numeric_and_categorical_columns_and_a_random_pilot(tmp_path):
    ws = Warehouses(tmp_path)
    try:
        wh = ws.get(1)
        seed_warehouse(wh)
        result = wh.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'brandable_all_users' ORDER BY ordinal_position"
        )
        assert dict(result.rows) == _CUSTOMER_COLUMNS
        stats = wh.execute(
            "SELECT count(DISTINCT brandable_user_id), count(DISTINCT plan), "
            "count(DISTINCT region), count(DISTINCT signup_channel), "
            "count(*) FILTER (WHERE avg_session_minutes IS NULL), min(age), max(age), "
            "min(monthly_spend) > 0 FROM brandable_customers.brandable_all_users"
        ).rows[0]
        assert stats[:4] == (DEMO_CUSTOMERS, 3, 5, 5)
        assert 0 < stats[4] < 0.25 * DEMO_CUSTOMERS  # some missing values to impute
        assert stats[5:] == (18, 77, True)
        by_plan = dict(
            wh.execute(
                "SELECT plan, avg(monthly_spend) FROM brandable_customers.brandable_all_users "
                "GROUP BY 1"
            ).rows
        )
        assert by_plan["basic"] < by_plan["standard"] < by_plan["premium"]
        pilot = wh.execute(
            "SELECT count(DISTINCT p.brandable_user_id), count(u.brandable_user_id), "
            "min(p.brandable_user_id), max(p.brandable_user_id), avg(upgrade) "
            "FROM brandable_customers.brandable_pilot p "
            "LEFT JOIN brandable_customers.brandable_all_users u USING (brandable_user_id)"
        ).rows[0]
        assert pilot[:2] == (DEMO_LABELLED, DEMO_LABELLED)  # distinct, every one a customer
        assert pilot[2] < 0.01 * DEMO_CUSTOMERS and pilot[3] > 0.99 * DEMO_CUSTOMERS
        assert 0.1 < pilot[4] < 0.4
    finally:
        ws.close()


def test_upgrade_label_has_real_signal(tmp_path):
    pytest.importorskip("sklearn")
    import pandas as pd
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    ws = Warehouses(tmp_path)
    try:
        wh = ws.get(1)
        seed_warehouse(wh)
        result = wh.execute(
            "SELECT u.*, p.upgrade FROM brandable_customers.brandable_all_users u "
            "JOIN brandable_customers.brandable_pilot p USING (brandable_user_id)"
        )
    finally:
        ws.close()
    frame = pd.DataFrame(result.rows, columns=[c.name for c in result.columns])
    text = ["plan", "region", "signup_channel", "email_opt_in"]
    numbers = [c for c in _CUSTOMER_COLUMNS if c not in text and c != "brandable_user_id"]
    model = make_pipeline(
        make_column_transformer(
            (make_pipeline(SimpleImputer(), StandardScaler()), numbers),
            (OneHotEncoder(), text),
        ),
        LogisticRegression(max_iter=1000),
    )
    x = frame[numbers + text].astype({c: str for c in text})
    scores = cross_val_predict(model, x, frame["upgrade"], cv=4, method="predict_proba")[:, 1]
    assert roc_auc_score(frame["upgrade"], scores) > 0.75
    rate = frame.groupby("plan")["upgrade"].mean()
    assert rate["premium"] < rate["basic"] < rate["standard"]  # premium has nowhere to go
