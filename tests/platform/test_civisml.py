"""CivisML on the embedded platform, driven by the official ``civis.ml`` client.

One platform per module with two named databases; small tables made with
SQL; every model run is a real platform run of the CivisML worker.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

civis = pytest.importorskip("civis")
pytest.importorskip("sklearn")

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # civis.ml is deprecated upstream
    from civis.ml import ModelError, ModelPipeline
    from civis.ml._model import _get_template_ids, _parse_warning

from civis_jupyter.platform import LocalPlatform  # noqa: E402
from civis_jupyter.platform.civisml.data import build_etl, coerce, feature_columns  # noqa: E402
from civis_jupyter.platform.civisml.errors import CivisMLError  # noqa: E402
from civis_jupyter.platform.civisml.models import MODELS, build_model, search  # noqa: E402

from ..polling import wait_until  # noqa: E402

FAST = 0.1
ROWS = 600
DB = "redshift-general"
OTHER_DB = "analytics"


def _uniform(salt: int) -> str:
    return f"((hash(i * 7919 + {salt}) % 1000003) / 1000003.0)"


_DATA_SQL = f"""
CREATE SCHEMA ml;
CREATE SCHEMA scratch;
CREATE TABLE ml.customers AS
WITH u AS (
  SELECT i, {_uniform(1)} AS u1, {_uniform(2)} AS u2, {_uniform(3)} AS u3,
         {_uniform(4)} AS u4, {_uniform(5)} AS u5
  FROM range(1, {ROWS + 1}) r(i)
), f AS (
  SELECT i AS customer_id,
    (18 + floor(u1 * 60))::INTEGER AS age,
    round(10 + u2 * 90, 2) AS spend,
    CASE WHEN u3 < 0.05 THEN NULL
         ELSE (['basic', 'standard', 'premium'])[1 + floor(u3 * 3)::INTEGER] END AS plan,
    u4, u5
  FROM u
)
SELECT customer_id, age, CASE WHEN u5 < 0.04 THEN NULL ELSE spend END AS spend, plan,
  (u4 < 1 / (1 + exp(-(-0.5 + 0.05 * (age - 45) + 0.04 * (spend - 55)
     + CASE plan WHEN 'premium' THEN 1.5 WHEN 'basic' THEN -1.0 ELSE 0 END))))::INTEGER
    AS upgrade,
  round(20 + 0.8 * age + 0.5 * spend + 10 * u4, 3) AS value
FROM f;
CREATE TABLE ml.empty AS SELECT * FROM ml.customers WHERE false;
CREATE TABLE ml.dupes AS SELECT * FROM ml.customers UNION ALL
  SELECT * FROM ml.customers WHERE customer_id = 7;
"""


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    """A platform with two named databases and the modelling tables in the first."""
    data_dir = tmp_path_factory.mktemp("civisml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # unsandboxed machines say so
        started = LocalPlatform(data_dir=data_dir, databases=[DB, OTHER_DB]).start()
    try:
        started.warehouses.get(started.default_database_id).execute(_DATA_SQL)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("CIVIS_API_ENDPOINT", started.endpoint)
            mp.delenv("CIVIS_API_KEY", raising=False)
            yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def client(platform: LocalPlatform) -> Any:
    """The official client."""
    return civis.APIClient(api_key=platform.api_key)


@pytest.fixture(scope="module")
def customers(platform: LocalPlatform) -> pd.DataFrame:
    """The training table as the warehouse has it."""
    result = platform.warehouses.get(platform.default_database_id).execute(
        "SELECT * FROM ml.customers ORDER BY customer_id"
    )
    return pd.DataFrame(result.rows, columns=[c.name for c in result.columns])


@pytest.fixture(scope="module")
def trained(client: Any) -> Any:
    """A sparse_logistic model trained on the table (CivisML production version)."""
    model = ModelPipeline(
        "sparse_logistic",
        "upgrade",
        primary_key="customer_id",
        excluded_columns=["value"],
        client=client,
    )
    future = model.train(table_name="ml.customers", database_name=DB, polling_interval=FAST)
    future.result(timeout=120)
    return model, future


def _outputs(client: Any, job_id: int, run_id: int) -> list[str]:
    return sorted(o["name"] for o in client.jobs.list_runs_outputs(job_id, run_id))


def _sklearn_oos_auc(frame: pd.DataFrame) -> float:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prep = ColumnTransformer(
        [
            ("n", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "spend"]),
            ("c", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
        ]
    )
    x = frame[["age", "spend", "plan"]].astype({"plan": object}).fillna({"plan": "NULL"})
    pipe = make_pipeline(prep, LogisticRegression(C=1e6, max_iter=1000))
    folds = StratifiedKFold(4, shuffle=True, random_state=0)
    proba = cross_val_predict(pipe, x, frame["upgrade"], cv=folds, method="predict_proba")
    return float(roc_auc_score(frame["upgrade"], proba[:, 1]))


# -- templates and databases ------------------------------------------------------------------


def test_every_user_finds_the_templates_by_alias(platform, client):
    assert _get_template_ids(None, client) == (11219, 11220, 11221)
    assert _get_template_ids("v2.2", client) == (11219, 11220, 11221)
    other = civis.APIClient(api_key=platform.create_user("modeller"))
    aliases = {a.alias: a.object_id for a in other.aliases.list(object_type="template_script")}
    assert aliases["civis-civisml-prediction-v2-2"] == 11220
    assert other.templates.get_scripts(11221).name == "CivisML Registration"
    with pytest.raises(ValueError, match="invalid CivisML version"):
        _get_template_ids("v9.9", client)


def test_an_alias_is_found_by_object_type_and_name_with_both_clients(platform, client):
    import civis_jupyter
    from civis_jupyter.api.errors import CivisAPIError

    ours = civis_jupyter.APIClient(api_key=platform.api_key)
    for api in (client, ours):
        found = api.aliases.get_object_type("template_script", "civis-civisml-training-v2-2")
        assert (found.object_type, found.object_id) == ("template_script", 11219)
        assert found.alias == "civis-civisml-training-v2-2" and found.display_name
        with pytest.raises((civis.base.CivisAPIError, CivisAPIError)) as err:
            api.aliases.get_object_type(object_type="template_script", alias="civis-civisml-nope")
        assert err.value.status_code == 404 and "civis-civisml-nope" in str(err.value)
    # Exact: another object type, or the text in another case, is another alias.
    with pytest.raises(civis.base.CivisAPIError, match="not found"):
        client.aliases.get_object_type("template_report", "civis-civisml-training")
    with pytest.raises(civis.base.CivisAPIError, match="not found"):
        client.aliases.get_object_type("template_script", "CIVIS-CIVISML-TRAINING")
    # A private alias is its author's (and whoever it is shared with) only.
    mine = client.aliases.post(object_id=11220, object_type="template_script", alias="my-scorer")
    stranger = civis.APIClient(api_key=platform.create_user("alias-stranger"))
    with pytest.raises(civis.base.CivisAPIError) as err:
        stranger.aliases.get_object_type("template_script", "my-scorer")
    assert err.value.status_code == 404
    stranger_id = stranger.users.get_me().id
    client.aliases.put_shares_users(mine.id, [stranger_id], "read")
    assert stranger.aliases.get_object_type("template_script", "my-scorer").id == mine.id
    # The same text made by the stranger: each user finds their own first.
    theirs = stranger.aliases.post(
        object_id=11221, object_type="template_script", alias="my-scorer"
    )
    assert stranger.aliases.get_object_type("template_script", "my-scorer").id == theirs.id
    assert client.aliases.get_object_type("template_script", "my-scorer").id == mine.id
    # Routes with literal segments keep their meaning.
    assert client.aliases.list_dependencies(mine.id) == []


def test_named_databases_are_each_their_own_warehouse(platform, client):
    names = [d.name for d in client.databases.list()]
    assert names == [DB, OTHER_DB]
    assert client.get_database_id(DB) == platform.default_database_id
    assert (
        platform.warehouses.get(client.get_database_id(OTHER_DB)).table("ml", "customers") is None
    )


def test_database_names_are_checked():
    with pytest.raises(ValueError, match="distinct"):
        LocalPlatform(databases=["a", "a"])
    with pytest.raises(ValueError, match="non-empty"):
        LocalPlatform(databases=[""])


def test_platform_command_takes_repeated_databases():
    from civis_jupyter.cli import build_parser

    args = build_parser().parse_args(["platform", "--database", DB, "--database", OTHER_DB])
    assert args.database == [DB, OTHER_DB]
    assert build_parser().parse_args(["platform"]).database is None


# -- training -------------------------------------------------------------------------------


def test_training_metrics_agree_with_scikit_learn(trained, customers):
    _model, future = trained
    metrics = future.metrics
    assert abs(metrics["roc_auc"] - _sklearn_oos_auc(customers)) < 0.03
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.shape == (2, 2) and matrix.sum() == ROWS
    assert metrics["accuracy"] == pytest.approx(np.trace(matrix) / ROWS)
    assert metrics["pop_incidence_true"][1] == pytest.approx(customers["upgrade"].mean())
    assert 0 < metrics["log_loss"] < 0.69
    curve = metrics["roc_curve"]
    assert curve["fpr"][0] == 0 and curve["tpr"][-1] == 1 and len(curve["fpr"]) <= 200
    assert set(metrics["calibration_curve"]) == {"fop", "mpv"}
    assert len(metrics["deciles"]) == 10 and metrics["deciles"][-1] > metrics["deciles"][0]
    assert sum(b[1] for b in metrics["score_histogram"][0]) == ROWS


def test_training_outputs_table_estimator_and_metadata(trained, client, customers):
    _model, future = trained
    assert _outputs(client, future.job_id, future.run_id) == [
        "estimator.pkl",
        "metrics.json",
        "model_info.json",
        "predictions.csv.gz",
    ]
    table = future.table
    assert table.index.name == "customer_id" and list(table.columns) == ["upgrade_1"]
    assert sorted(table.index) == list(range(1, ROWS + 1))
    meta = future.metadata
    assert meta["run"]["status"] == "succeeded"
    assert meta["data"]["target_columns"] == ["upgrade"]
    assert meta["data"]["class_names"] == [0, 1]
    assert "value" not in meta["data"]["feature_columns"]
    assert {f["name"] for f in meta["model"]["feature_importances"]} & {"age", "spend"}
    estimator = future.estimator
    x = customers.drop(columns=["upgrade", "value", "customer_id"])
    proba = estimator.predict_proba(x)[:, 1]
    assert proba.shape == (ROWS,) and proba.min() >= 0 and proba.max() <= 1
    assert future.state == "succeeded"


def test_regressor_trains_from_a_dataframe_with_v2_2(client, customers):
    model = ModelPipeline(
        "random_forest_regressor",
        "value",
        primary_key="customer_id",
        parameters={"n_estimators": 20},
        excluded_columns=["upgrade"],
        client=client,
        civisml_version="v2.2",
    )
    future = model.train(df=customers, polling_interval=FAST)  # uploaded as feather
    metrics = future.metrics
    assert metrics["r_squared"] > 0.8
    assert metrics["rmse"] == pytest.approx(metrics["mse"] ** 0.5)
    assert metrics["mad"] == metrics["mae"] > 0
    assert len(metrics["y_yhat_plot"]["values"]) == 10
    assert list(future.table.columns) == ["value"] and len(future.table) == ROWS
    assert future.metadata["model"]["estimator"] == "RandomForestRegressor"


def test_own_estimator_with_a_grid_search(client, customers):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = ModelPipeline(
        make_pipeline(StandardScaler(), LogisticRegression()),
        "upgrade",
        primary_key="customer_id",
        cross_validation_parameters={"C": [0.01, 10.0]},
        excluded_columns=["value"],
        client=client,
    )
    future = model.train(table_name="ml.customers", database_name=DB, polling_interval=FAST)
    assert future.metrics["roc_auc"] > 0.6
    best = future.metadata["model"]["best_parameters"]
    assert list(best) == ["logisticregression__C"]
    assert best["logisticregression__C"] in (0.01, 10.0)
    assert future.metadata["model"]["estimator"] == "LogisticRegression"


_LOAD_ELSEWHERE = """
import sys, joblib, pandas as pd
model = joblib.load(sys.argv[1])
x = pd.DataFrame({"age": [30, 70], "spend": [20.0, 90.0], "plan": ["basic", "premium"]})
print(type(model.steps[-1][1]).__name__, *model.predict_proba(x)[:, 1].round(6))
"""


def test_notebook_class_estimator_loads_anywhere(platform, client, customers, tmp_path):
    """A class defined in a notebook trains, and its estimator.pkl loads without it."""
    import subprocess
    import sys

    from sklearn.linear_model import LogisticRegression

    import civis_jupyter
    from civis_jupyter.ml import ModelPipeline as OurPipeline

    notebook_class = type("NotebookLogistic", (LogisticRegression,), {"__module__": "__main__"})
    ours = civis_jupyter.APIClient(api_key=platform.api_key)
    model = OurPipeline(
        notebook_class(max_iter=500),
        "upgrade",
        primary_key="customer_id",
        excluded_columns=["value"],
        client=ours,
    )
    trained = model.train(table_name="ml.customers", database_name=DB, polling_interval=FAST)
    trained.result(timeout=120)
    # The official client reads the same output with joblib.load.
    official = civis.ml.ModelFuture(trained.job_id, trained.run_id, client=client)
    estimator = official.estimator
    assert type(estimator.steps[-1][1]).__name__ == "NotebookLogistic"
    # A fresh interpreter, where no such class exists, loads it too (it travelled by value).
    path = tmp_path / "estimator.pkl"
    file_id = civis.io.file_id_from_run_output(
        "estimator.pkl", trained.job_id, trained.run_id, client=client
    )
    civis.io.civis_to_file(file_id, path.open("wb"), client=client)
    done = subprocess.run(
        [sys.executable, "-c", _LOAD_ELSEWHERE, str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    name, *scores = done.stdout.split()
    x = pd.DataFrame({"age": [30, 70], "spend": [20.0, 90.0], "plan": ["basic", "premium"]})
    assert name == "NotebookLogistic"
    assert np.allclose([float(v) for v in scores], estimator.predict_proba(x)[:, 1], atol=1e-5)


# -- prediction -----------------------------------------------------------------------------


def test_prediction_from_an_existing_model_covers_every_row(trained, client, platform, customers):
    _model, future = trained
    existing = ModelPipeline.from_existing(future.job_id, client=client)
    assert existing.predict_template_id == 11220
    prediction = existing.predict(
        table_name="ml.customers",
        database_name=DB,
        output_table="scratch.upgrade_scores",
        output_db=OTHER_DB,
        polling_interval=FAST,
    )
    table = prediction.table.sort_index()
    assert list(table.index) == list(range(1, ROWS + 1))
    x = customers.drop(columns=["upgrade", "value", "customer_id"])
    expected = future.estimator.predict_proba(x)[:, 1]
    got = table["upgrade_1"].to_numpy()
    bad = np.flatnonzero(~np.isclose(got, expected, rtol=0, atol=1e-9))
    assert not len(bad), (bad[:5], got[bad[:5]], expected[bad[:5]], customers.iloc[bad[:5]])
    other = platform.warehouses.get(client.get_database_id(OTHER_DB))
    rows = other.execute("SELECT count(*), count(DISTINCT customer_id) FROM scratch.upgrade_scores")
    assert rows.rows[0] == (ROWS, ROWS)
    assert prediction.metadata["output_file_ids"]
    assert prediction.state == "succeeded"


def test_prediction_reads_in_batches(trained, client):
    _model, future = trained
    script = client.scripts.post_custom(
        11220,
        arguments={
            "TRAIN_JOB": future.job_id,
            "TRAIN_RUN": future.run_id,
            "TABLE_NAME": "ml.customers",
            "DB": {"database": client.get_database_id(DB)},
            "PRIMARY_KEY": "customer_id",
            "CIVISML_BATCH_ROWS": 250,
        },
    )
    run = client.scripts.post_custom_runs(script.id)
    civis.futures.CivisFuture(
        client.scripts.get_custom_runs, (script.id, run.id), polling_interval=FAST, client=client
    ).result(timeout=120)
    logs = [entry.message for entry in client.scripts.list_custom_runs_logs(script.id, run.id)]
    assert sum(m.startswith("Scored rows") for m in logs) == 3  # 250 + 250 + 100
    file_id = civis.io.file_id_from_run_output(
        "predictions.csv.gz", script.id, run.id, client=client
    )
    scores = civis.io.file_to_dataframe(file_id, client=client)
    assert sorted(scores["customer_id"]) == list(range(1, ROWS + 1))


def test_registered_model_predicts(client, customers):
    from sklearn.linear_model import LinearRegression

    features = ["age", "spend"]
    frame = customers.dropna(subset=features)
    est = LinearRegression().fit(frame[features], frame["value"])
    model = ModelPipeline.register_pretrained_model(
        est, "value", features=features, primary_key="customer_id", client=client
    )
    prediction = model.predict(df=frame[["customer_id", *features]], polling_interval=FAST)
    table = prediction.table
    assert list(table.columns) == ["value"]
    assert np.allclose(table.loc[frame["customer_id"], "value"], est.predict(frame[features]))


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "target", "table", "message"),
    [
        ("sparse_logistic", "upgrade", "ml.missing", "table ml.missing does not exist"),
        ("sparse_logistic", "nope", "ml.customers", "column 'nope' (TARGET_COLUMN) not found"),
        ("sparse_logistics", "upgrade", "ml.customers", "unknown model 'sparse_logistics'"),
        ("sparse_linear_regressor", "plan", "ml.customers", "target column 'plan' is not numeric"),
        ("sparse_logistic", "upgrade", "ml.empty", "table ml.empty has no rows"),
        ("sparse_logistic", "upgrade", "ml.dupes", "primary key 'customer_id' has duplicate"),
    ],
)
def test_bad_training_input_fails_in_one_line(client, model, target, table, message):
    pipeline = ModelPipeline(model, target, primary_key="customer_id", client=client)
    future = pipeline.train(table_name=table, database_name=DB, polling_interval=FAST)
    with pytest.raises(ModelError, match=re.escape(message)):
        future.result(timeout=120)
    run = client.jobs.get_runs(future.job_id, future.run_id)
    assert run.state == "failed" and message in run.error and "\n" not in run.error
    errors = [e.message for e in client.jobs.list_runs_logs(future.job_id, future.run_id)]
    assert message in errors[0]  # newest first
    assert _outputs(client, future.job_id, future.run_id) == ["model_info.json"]


def test_bad_prediction_input_leaves_no_table(trained, client, platform):
    _model, future = trained
    existing = ModelPipeline.from_existing(future.job_id, client=client)
    prediction = existing.predict(
        table_name="ml.dupes",
        database_name=DB,
        output_table="scratch.never_written",
        polling_interval=FAST,
    )
    with pytest.raises(ModelError, match="duplicate values"):
        prediction.result(timeout=120)
    assert _outputs(client, prediction.job_id, prediction.run_id) == ["model_info.json"]
    warehouse = platform.warehouses.get(platform.default_database_id)
    assert warehouse.table("scratch", "never_written") is None


# -- the models themselves (in process, tiny data) ----------------------------------------------


@pytest.fixture(scope="module")
def tiny(customers: pd.DataFrame) -> tuple[pd.DataFrame, list[str], list[str]]:
    frame = customers.head(120)
    numeric, categorical = feature_columns(frame, ["customer_id", "upgrade", "value"])
    return coerce(frame, numeric, categorical), numeric, categorical


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_predefined_model_fits(name, tiny, customers):
    from sklearn.pipeline import Pipeline

    features, numeric, categorical = tiny
    model, classifier = build_model(name)
    light = {k: 10 for k in model.get_params() if k.endswith("n_estimators")}
    model.set_params(**light)
    target = customers.head(120)["upgrade" if classifier else "value"]
    pipe = Pipeline([("etl", build_etl(numeric, categorical)), ("model", model)]).fit(
        features, target
    )
    out = pipe.predict_proba(features) if classifier else pipe.predict(features)
    assert len(out) == 120 and np.isfinite(out).all()


def test_hyperband_is_successive_halving_for_trees_only():
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV

    forest, _ = build_model("extra_trees_classifier")
    searched = search(forest, "extra_trees_classifier", "hyperband", True, None)
    assert isinstance(searched, HalvingRandomSearchCV)
    assert (searched.resource, searched.min_resources, searched.max_resources) == (
        "n_estimators",
        100,
        1000,
    )
    logistic, _ = build_model("sparse_logistic")
    with pytest.raises(CivisMLError, match="hyperband is not supported"):
        search(logistic, "sparse_logistic", "hyperband", True, None)


def test_metrics_json_is_plain_json(trained, client):
    _model, future = trained
    file_id = civis.io.file_id_from_run_output(
        "metrics.json", future.job_id, future.run_id, client=client
    )
    text = json.dumps(civis.io.file_to_json(file_id, client=client))
    assert "NaN" not in text and "Infinity" not in text


def test_training_runs_live_and_can_be_cancelled(client):
    model = ModelPipeline(
        "gradient_boosting_classifier",
        "upgrade",
        parameters={"n_estimators": 100_000},
        client=client,
    )
    future = model.train(table_name="ml.customers", database_name=DB, polling_interval=FAST)

    def live_line() -> bool:
        logs = client.jobs.list_runs_logs(future.job_id, future.run_id)
        return any(entry.message.startswith("Cross-validating") for entry in logs)

    wait_until(live_line, "the cross-validation to start")
    assert future.cancel()
    wait_until(
        lambda: client.jobs.get_runs(future.job_id, future.run_id).state == "cancelled",
        "the run to be cancelled",
    )


def test_two_targets_have_metrics_and_scores_each(client):
    model = ModelPipeline(
        "extra_trees_regressor",
        ["value", "upgrade"],
        primary_key="customer_id",
        parameters={"n_estimators": 10},
        client=client,
    )
    future = model.train(table_name="ml.customers", database_name=DB, polling_interval=FAST)
    metrics = future.metrics
    value, upgrade = metrics["r_squared"]
    assert value > 0.8 and 0 < upgrade < value
    assert len(metrics["y_yhat_plot"]) == 2
    assert list(future.table.columns) == ["value", "upgrade"] and len(future.table) == ROWS
    assert future.metadata["data"]["target_columns"] == ["value", "upgrade"]
    prediction = model.predict(
        table_name="ml.customers", database_name=DB, dvs_to_predict=["upgrade"]
    )
    assert list(prediction.table.columns) == ["upgrade"] and len(prediction.table) == ROWS


def test_training_reads_a_csv_file(client, customers, tmp_path):
    path = tmp_path / "customers.csv"
    customers.to_csv(path, index=False)
    model = ModelPipeline(
        "sparse_ridge_regressor",
        "value",
        primary_key="customer_id",
        excluded_columns=["upgrade"],
        client=client,
    )
    future = model.train(csv_path=str(path), polling_interval=FAST)
    assert future.metrics["r_squared"] > 0.8
    assert future.metadata["run"]["configuration"]["data"]["file_id"] is not None


def test_warnings_of_a_run_reach_the_client(client):
    model = ModelPipeline(
        "multilayer_perceptron_classifier",
        "upgrade",
        parameters={"max_iter": 2, "early_stopping": False},
        excluded_columns=["value"],
        client=client,
    )
    future = model.train(
        table_name="ml.customers", database_name=DB, sql_limit=200, polling_interval=FAST
    )
    future.result(timeout=120)
    meta = future.metadata
    assert meta["data"]["n_rows"] == 200
    parsed = [_parse_warning(line) for line in meta["warnings"]]  # as the client reads them
    assert any("Maximum iterations" in message for message, *_ in parsed)
    logs = [e.message for e in client.jobs.list_runs_logs(future.job_id, future.run_id)]
    assert any(m.startswith("Warning: ") and "ConvergenceWarning" in m for m in logs)
