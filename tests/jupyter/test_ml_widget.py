"""The CivisML card, driven by real CivisML runs on the embedded platform."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest

pytest.importorskip("sklearn")

import civis_jupyter as civis
from civis_jupyter.jupyter.widgets.ml import ModelCard, ModelWidget, model_card
from civis_jupyter.ml import ModelPipeline

from .waits import wait_for_trait

ROWS = 400
_SQL = f"""
CREATE SCHEMA IF NOT EXISTS mlw;
CREATE OR REPLACE TABLE mlw.visits AS
WITH u AS (
  SELECT i, (hash(i * 17 + 1) % 100003) / 100003.0 AS u1,
    (hash(i * 17 + 2) % 100003) / 100003.0 AS u2, (hash(i * 17 + 3) % 100003) / 100003.0 AS u3
  FROM range(1, {ROWS + 1}) r(i)
)
SELECT i AS visit_id, round(u1 * 10, 2) AS minutes, (['web', 'app'])[1 + floor(u2 * 2)::INTEGER]
    AS channel,
  (u3 < 1 / (1 + exp(-(0.8 * (u1 * 10 - 5))))) ::INTEGER AS converted,
  round(3 * u1 * 10 + 5 * u3, 3) AS basket
FROM u;
"""


@pytest.fixture(scope="module")
def visits(demo_platform) -> str:
    demo_platform.warehouses.get(demo_platform.default_database_id).execute(_SQL)
    return "mlw.visits"


@pytest.fixture
def client(platform_env):
    return civis.APIClient()


def _train(client: Any, table: str, model: str, target: str, **options: Any) -> Any:
    excluded = [c for c in ("converted", "basket") if c != target]
    pipeline = ModelPipeline(
        model, target, primary_key="visit_id", excluded_columns=excluded, client=client, **options
    )
    database = client.databases.list()[0]["name"]
    return pipeline.train(table_name=table, database_name=database, polling_interval=0.1)


def _wait_for(widget: Any, trait: str, predicate: Any) -> None:
    wait_for_trait(widget, trait, predicate, timeout=120)  # CivisML runs train: more time


@pytest.fixture(scope="module")
def classifier_future(visits, demo_platform) -> Any:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CIVIS_API_ENDPOINT", demo_platform.endpoint)
        mp.setenv("CIVIS_API_KEY", demo_platform.api_key)
        client = civis.APIClient()
        future = _train(
            client, visits, "random_forest_classifier", "converted", parameters={"n_estimators": 10}
        )
        widget = ModelWidget(future, title="converters")
        future.result(timeout=120)
        yield future, widget


def test_card_follows_training_to_its_metrics(classifier_future):
    future, widget = classifier_future
    _wait_for(widget, "card_html", bool)
    assert widget.run.state == "succeeded" and widget.run._cancel.disabled
    html = widget.card_html
    assert "ROC AUC" in html and "<svg" in html and "Confusion matrix" in html
    assert "Top features" in html and "minutes" in html
    matrix = future.metrics["confusion_matrix"]
    assert sum(map(sum, matrix)) == ROWS
    text = widget.static_text()
    assert text.splitlines()[0].startswith("converters") and "succeeded" in text.splitlines()[0]
    assert f"ROC AUC {future.metrics['roc_auc']:.3f}" in text
    for row in matrix:
        assert " ".join(f"{v:,}" for v in row) in " ".join(text.split())
    static = widget.static_html()
    assert "converters" in static and "civis-model-card" in static and "<svg" in static


def test_regressor_card_plots_predicted_against_actual(client, visits):
    future = _train(
        client, visits, "random_forest_regressor", "basket", parameters={"n_estimators": 8}
    )
    widget = ModelWidget(future)
    _wait_for(widget, "card_html", bool)
    html = widget.card_html
    assert "Predicted against actual" in html and "R²" in html and "<svg" in html
    assert "ROC AUC" not in html
    assert f"R² {future.metrics['r_squared']:.3f}" in widget.card_text


def test_prediction_card_names_its_scores(classifier_future, client, visits):
    future, _widget = classifier_future
    model = ModelPipeline.from_existing(future.job_id, client=client)
    database = client.databases.list()[0]["name"]
    scored = model.predict(table_name=visits, database_name=database, polling_interval=0.1)
    widget = ModelWidget(scored)
    _wait_for(widget, "card_html", bool)
    assert "CivisML prediction" in widget.static_text()
    assert f"{ROWS:,} rows scored" in widget.card_text and "converted_1" in widget.card_text


def test_failed_training_shows_its_error_and_no_card(client, visits):
    future = _train(client, visits, "no_such_model", "converted")
    widget = ModelWidget(future)
    _wait_for(widget.run, "state", lambda s: s == "failed")
    _wait_for(widget.run, "error", bool)
    assert "no_such_model" in widget.run.error and widget.card_html == ""
    assert "no_such_model" in widget.static_html()


def test_cancel_button_cancels_training(client, visits):
    future = _train(client, visits, "stacking_classifier", "converted")
    widget = ModelWidget(future)
    widget.run._cancel.click()
    _wait_for(widget.run, "state", lambda s: s == "cancelled")
    assert future.cancelled() and widget.card_html == ""
    assert client.jobs.get_runs(future.job_id, future.run_id)["state"] == "cancelled"


def test_shown_in_the_shell_a_model_future_is_the_model_card(shell, classifier_future):
    from IPython.utils.capture import capture_output

    future, _widget = classifier_future
    with capture_output() as shown:
        shell.display_formatter.format(future)
    bundle = shown.outputs[-1].data
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "civis-model-static" in bundle["text/html"] and "ROC AUC" in bundle["text/plain"]
    shell.run_line_magic("config", "CivisMagics.widgets = False")
    try:
        with capture_output() as shown:
            shell.display_formatter.format(future)
    finally:
        shell.run_line_magic("config", "CivisMagics.widgets = True")
    assert shown.outputs[-1].data == {"text/plain": repr(future)}


def test_saved_output_follows_training_to_its_metrics(shell, client, visits):
    from IPython.utils.capture import capture_output

    future = _train(client, visits, "sparse_logistic", "converted")
    with capture_output() as shown:
        shell.display_formatter.format(future)
        future.result(timeout=120)  # waits for the card's update to be sent
    first, last = shown.outputs[0], shown.outputs[-1]
    assert "ROC AUC" not in first.data["text/plain"]
    assert last.update and "ROC AUC" in last.data["text/plain"]
    assert first.metadata == last.metadata  # the same display id: the saved output is replaced
    assert "<svg" in last.data["text/html"]


def test_without_matplotlib_the_card_keeps_its_tables(classifier_future, monkeypatch):
    future, _widget = classifier_future
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    card = model_card(future)
    html = card.html()
    assert "plots need matplotlib" in html and "<svg" not in html
    assert "civis-confusion" in html and "civis-features" in html


def test_several_targets_and_classes_get_a_section_each():
    from civis_jupyter.platform.civisml.metrics import classification_metrics, combine

    rng = np.random.default_rng(0)
    classes = ["high", "low", "mid"]
    codes = rng.integers(0, 3, 300)
    proba = rng.dirichlet(np.ones(3), 300)
    proba[np.arange(300), codes] += 1.0
    proba /= proba.sum(axis=1, keepdims=True)
    truth = np.array(classes)[codes]
    per_target = [classification_metrics(truth, proba, classes) for _ in range(2)]
    metadata = {
        "data": {"target_columns": ["tier", "tier_next"], "class_names": [classes, classes]},
        "model": {"name": "extra_trees_classifier", "type": "classification"},
    }
    card = ModelCard(metadata, combine(per_target), training=True)
    html, text = card.html(), card.text()
    assert html.count("civis-confusion") == 2 and html.count("<svg") == 2
    assert "tier_next" in html and ">high<" in html
    assert "ROC AUC (mean over classes)" in text and text.count("confusion matrix") == 2
