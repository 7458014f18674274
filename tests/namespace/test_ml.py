"""civis_jupyter.ml against the embedded platform (real CivisML runs), and its pure logic.

One platform per module with a small modelling table made with SQL; every
training and prediction is a real run of the platform's CivisML worker.
"""

from __future__ import annotations

import inspect
import pickle
import subprocess
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sklearn")

import civis_jupyter as civis
from civis_jupyter.api.errors import CivisAPIError
from civis_jupyter.api.response import Response
from civis_jupyter.ml import (
    CLASSIFIERS,
    PREDEFINED_MODELS,
    REGRESSORS,
    ModelError,
    ModelFuture,
    ModelPipeline,
    list_models,
)
from civis_jupyter.ml._templates import parse_alias
from civis_jupyter.platform import LocalPlatform
from civis_jupyter.testing import create_client_mock

FAST = 0.1
ROWS = 500
DB = "redshift-general"

_SQL = f"""
CREATE SCHEMA nsml;
CREATE SCHEMA scratch;
CREATE TABLE nsml.people AS
WITH u AS (
  SELECT i,
    (hash(i * 31 + 1) % 100003) / 100003.0 AS u1, (hash(i * 31 + 2) % 100003) / 100003.0 AS u2,
    (hash(i * 31 + 3) % 100003) / 100003.0 AS u3, (hash(i * 31 + 4) % 100003) / 100003.0 AS u4
  FROM range(1, {ROWS + 1}) r(i)
), f AS (
  SELECT i AS person_id, (20 + floor(u1 * 50))::INTEGER AS age, round(u2 * 100, 2) AS score,
    (['red', 'green', 'blue'])[1 + floor(u3 * 3)::INTEGER] AS colour, u4
  FROM u
)
SELECT person_id, age, score, colour,
  (u4 < 1 / (1 + exp(-(0.06 * (age - 45) + 0.04 * (score - 50)
     + CASE colour WHEN 'red' THEN 1.2 ELSE -0.4 END))))::INTEGER AS bought,
  round(5 + 0.5 * age + 0.3 * score + 4 * u4, 3) AS amount
FROM f;
"""


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # unsandboxed machines say so
        started = LocalPlatform(data_dir=tmp_path_factory.mktemp("nsml"), databases=[DB]).start()
    try:
        started.warehouses.get(started.default_database_id).execute(_SQL)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("CIVIS_API_ENDPOINT", started.endpoint)
            mp.setenv("CIVIS_API_KEY", started.api_key)
            yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def client(platform: LocalPlatform) -> Any:
    return civis.APIClient()


@pytest.fixture(scope="module")
def people(platform: LocalPlatform) -> pd.DataFrame:
    result = platform.warehouses.get(platform.default_database_id).execute(
        "SELECT * FROM nsml.people ORDER BY person_id"
    )
    return pd.DataFrame(result.rows, columns=[c.name for c in result.columns])


@pytest.fixture(scope="module")
def trained(client: Any) -> tuple[ModelPipeline, ModelFuture]:
    model = ModelPipeline(
        "sparse_logistic",
        "bought",
        primary_key="person_id",
        excluded_columns=["amount"],
        model_name="buyers",
        client=client,
    )
    future = model.train(table_name="nsml.people", database_name=DB, polling_interval=FAST)
    future.result(timeout=180)
    return model, future


def _sklearn_auc(frame: pd.DataFrame) -> float:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prep = ColumnTransformer(
        [("n", StandardScaler(), ["age", "score"]), ("c", OneHotEncoder(), ["colour"])]
    )
    pipe = make_pipeline(prep, LogisticRegression(C=1e6, max_iter=2000))
    folds = StratifiedKFold(4, shuffle=True, random_state=1)
    proba = cross_val_predict(pipe, frame, frame["bought"], cv=folds, method="predict_proba")
    return float(roc_auc_score(frame["bought"], proba[:, 1]))


# -- training --------------------------------------------------------------------------------


def test_training_metrics_agree_with_scikit_learn(trained, people):
    _model, future = trained
    metrics = future.metrics
    assert abs(metrics["roc_auc"] - _sklearn_auc(people)) < 0.03
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.sum() == ROWS
    assert metrics["accuracy"] == pytest.approx(np.trace(matrix) / ROWS)
    assert future.validation_metadata["metrics"] is metrics


def test_training_results_table_estimator_and_metadata(trained, people):
    model, future = trained
    assert future.state == "succeeded" and future.is_training
    assert (future.train_job_id, future.train_run_id) == (future.job_id, future.run_id)
    meta = future.metadata
    assert meta["data"]["target_columns"] == ["bought"]
    assert "amount" not in meta["data"]["feature_columns"]
    assert future.training_metadata == meta
    table = future.table
    assert table.index.name == "person_id" and list(table.columns) == ["bought_1"]
    assert sorted(table.index) == list(range(1, ROWS + 1))
    proba = model.estimator.predict_proba(people.drop(columns=["bought", "amount"]))[:, 1]
    assert proba.shape == (ROWS,) and proba.min() >= 0 and proba.max() <= 1
    assert model.state == "succeeded"
    names = sorted(o["name"] for o in future.outputs())
    assert names == ["estimator.pkl", "metrics.json", "model_info.json", "predictions.csv.gz"]
    assert "state=succeeded" in repr(future) and f"job={future.job_id}" in repr(future)


def test_regressor_from_a_dataframe_with_civisml_v2_2(client, people):
    model = ModelPipeline(
        "random_forest_regressor",
        "amount",
        primary_key="person_id",
        parameters={"n_estimators": 15},
        excluded_columns=["bought"],
        client=client,
        civisml_version="v2.2",
    )
    assert (model.train_template_id, model.predict_template_id) == (11219, 11220)
    future = model.train(df=people.set_index("person_id").reset_index(), polling_interval=FAST)
    assert future.metrics["r_squared"] > 0.7
    scored = model.predict(df=people.drop(columns=["amount"]), polling_interval=FAST)
    assert not scored.is_training and scored.train_job_id == future.job_id
    table = scored.table
    assert sorted(table.index) == list(range(1, ROWS + 1)) and list(table.columns) == ["amount"]
    assert scored.metrics == future.metrics  # a prediction reads its training run's metrics
    assert scored.training_metadata["run"]["job_id"] == future.job_id


def test_notebook_estimator_travels_by_value(client, people):
    from sklearn.linear_model import LogisticRegression

    # A class defined in a notebook lives in __main__, which the worker cannot import.
    notebook_class = type("NotebookLogistic", (LogisticRegression,), {"__module__": "__main__"})
    model = ModelPipeline(
        notebook_class(C=0.5), "bought", excluded_columns=["amount"], client=client
    )
    future = model.train(table_name="nsml.people", database_name=DB, polling_interval=FAST)
    assert future.metrics["roc_auc"] > 0.6
    assert future.metadata["model"]["estimator"] == "NotebookLogistic"
    assert model.model.isdigit() and model._input_model.C == 0.5


# -- prediction and existing models ---------------------------------------------------------------


def test_existing_model_predicts_a_table_into_a_table(trained, client, platform):
    _model, future = trained
    existing = ModelPipeline.from_existing(future.job_id, client=client)
    assert existing.model == "sparse_logistic" and existing.model_name == "buyers"
    assert existing.dependent_variable == ["bought"] and existing.primary_key == "person_id"
    assert existing.excluded_columns == ["amount"]
    assert existing.train_result_.run_id == future.run_id
    scored = existing.predict(
        table_name="nsml.people",
        database_name=DB,
        output_table="scratch.bought_scores",
        polling_interval=FAST,
    )
    assert len(scored.table) == ROWS and scored.state == "succeeded"
    warehouse = platform.warehouses.get(platform.default_database_id)
    count = warehouse.execute("SELECT count(DISTINCT person_id) FROM scratch.bought_scores")
    assert count.rows[0][0] == ROWS
    names = [m["name"] for m in list_models(job_type=None, client=client)]
    assert "buyers Train" in names and "buyers Predict" in names
    assert "buyers Predict" not in [m["name"] for m in list_models(client=client)]


def test_existing_model_of_an_unknown_job_says_so(client):
    with pytest.raises(ValueError, match="no Civis Platform job"):
        ModelPipeline.from_existing(999_999, 1, client=client)


def test_registered_model_scores(client, people):
    from sklearn.linear_model import LinearRegression

    features = ["age", "score"]
    est = LinearRegression().fit(people[features], people["amount"])
    model = ModelPipeline.register_pretrained_model(
        est, "amount", features=features, primary_key="person_id", client=client
    )
    scored = model.predict(df=people[["person_id", *features]], polling_interval=FAST)
    table = scored.table
    assert np.allclose(table.loc[people["person_id"], "amount"], est.predict(people[features]))


def test_futures_and_pipelines_pickle_without_their_client(trained):
    model, future = trained
    again = pickle.loads(pickle.dumps(future))
    assert (again.job_id, again.run_id) == (future.job_id, future.run_id)
    assert again.metrics["roc_auc"] == future.metrics["roc_auc"]
    copy = pickle.loads(pickle.dumps(model))
    assert copy.train_result_.job_id == future.job_id and copy.primary_key == "person_id"


# -- failures and cancel ---------------------------------------------------------------------------


def test_bad_input_raises_the_one_line_model_error(client):
    future = ModelPipeline("sparse_logistic", "nope", client=client).train(
        table_name="nsml.people", database_name=DB, polling_interval=FAST
    )
    with pytest.raises(ModelError, match=r"column 'nope' \(TARGET_COLUMN\) not found") as info:
        future.result(timeout=120)
    assert "\n" not in str(info.value)
    assert info.value.metadata["run"]["status"] == "exception"
    assert future.state == "failed" and future.metadata["run"]["status"] == "exception"
    for result in ("table", "estimator", "metrics"):
        with pytest.raises(ModelError, match="nope"):
            getattr(future, result)


def test_cancel_stops_the_training_run(client):
    future = ModelPipeline("stacking_classifier", "bought", client=client).train(
        table_name="nsml.people", database_name=DB, polling_interval=FAST
    )
    assert future.cancel()
    assert future.cancelled() and future.state == "cancelled"
    assert client.jobs.get_runs(future.job_id, future.run_id)["state"] == "cancelled"


# -- the namespace ---------------------------------------------------------------------------------


def _official() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import civis.ml as official
    return official


def _same_signature(ours: Any, theirs: Any) -> None:
    ours_sig, theirs_sig = inspect.signature(ours), inspect.signature(theirs)
    assert list(ours_sig.parameters) == list(theirs_sig.parameters), ours
    for name, theirs_param in theirs_sig.parameters.items():
        ours_param = ours_sig.parameters[name]
        assert ours_param.kind == theirs_param.kind, (ours, name)
        assert repr(ours_param.default) == repr(theirs_param.default), (ours, name)


@pytest.mark.parametrize(
    "name",
    [
        "ModelPipeline.__init__",
        "ModelPipeline.train",
        "ModelPipeline.predict",
        "ModelPipeline.register_pretrained_model",
        "ModelPipeline.from_existing",
        "ModelFuture.__init__",
        "ModelError.__init__",
        "list_models",
        "put_models_shares_users",
        "put_models_shares_groups",
        "delete_models_shares_users",
        "delete_models_shares_groups",
    ],
)
def test_signatures_match_the_official_client(name):
    ours, theirs = civis.ml, _official()
    for part in name.split("."):
        ours, theirs = getattr(ours, part), getattr(theirs, part)
    _same_signature(ours, theirs)


def test_results_the_official_future_offers_are_here():
    official = _official().ModelFuture
    public = {n for n in vars(official) if not n.startswith("_")}
    assert public <= set(dir(ModelFuture))


def test_predefined_names_are_the_models_the_platform_trains():
    from civis_jupyter.platform.civisml.models import MODELS

    assert sorted(PREDEFINED_MODELS) == sorted(MODELS)
    assert all(MODELS[n].classifier for n in CLASSIFIERS)
    assert not any(MODELS[n].classifier for n in REGRESSORS)


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=60
    )


def test_ml_is_imported_only_when_used_and_without_warnings():
    done = _python(
        "import sys, civis_jupyter as civis\n"
        "assert 'civis_jupyter.ml' not in sys.modules\n"
        "assert 'ml' in civis.__all__\n"
        "civis.ml.ModelPipeline\n"
        "assert 'sklearn' not in sys.modules and 'joblib' not in sys.modules\n"
    )
    assert done.returncode == 0, done.stderr


def test_without_the_extra_the_error_names_it():
    done = _python(
        "import sys\nsys.modules['sklearn'] = None\nimport civis_jupyter as civis\ncivis.ml\n"
    )
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        "ModuleNotFoundError: civis_jupyter.ml needs scikit-learn: pip install 'civis-jupyter[ml]'"
    )


# -- pure logic with a mock client ------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("civis-civisml-training", ("training", None)),
        ("civis-civisml-prediction-v2-2", ("prediction", "v2.2")),
        ("civis-civisml-registration-dev", ("registration", "dev")),
    ],
)
def test_aliases_name_job_type_and_version(alias, expected):
    assert parse_alias(alias) == expected


def test_alias_of_another_form_is_refused():
    with pytest.raises(ValueError, match="not a CivisML template alias"):
        parse_alias("civis-civisml-")


def _mock_client(aliases: dict[str, int]) -> Any:
    client = create_client_mock()
    client.aliases.list.return_value = [
        Response({"alias": alias, "object_id": object_id, "object_type": "template_script"})
        for alias, object_id in aliases.items()
    ]
    client.get_database_id.return_value = 32
    client.scripts.post_custom.return_value = Response({"id": 70})
    client.scripts.post_custom_runs.return_value = Response({"id": 71})
    client.scripts.get_containers_runs.return_value = Response({"id": 71, "state": "succeeded"})
    client.jobs.list_runs_outputs.return_value = []
    return client


_V2_2 = {
    "civis-civisml-training": 11219,
    "civis-civisml-prediction": 11220,
    "civis-civisml-registration": 11221,
    "civis-civisml-training-v1-4": 9112,
    "civis-civisml-prediction-v1-4": 9113,
}


def test_training_sends_the_arguments_civisml_reads():
    client = _mock_client(_V2_2)
    model = ModelPipeline(
        "gradient_boosting_classifier",
        ["a", "b"],
        primary_key="id",
        parameters={"max_depth": 2},
        cross_validation_parameters="hyperband",
        excluded_columns=["x", "y"],
        memory_requested=2048,
        client=client,
        model_name="m",
    )
    future = model.train(table_name="s.t", database_name="db", sql_where="id > 3", n_jobs=2)
    kwargs = client.scripts.post_custom.call_args.kwargs
    args = kwargs["arguments"]
    assert kwargs["from_template_id"] == 11219 and kwargs["name"] == "m Train"
    assert args["TARGET_COLUMN"] == "a b" and args["EXCLUDE_COLS"] == "x y"
    assert args["PARAMS"] == '{"max_depth": 2}' and args["CVPARAMS"] == '"hyperband"'
    assert args["DB"] == {"database": 32} and args["TABLE_NAME"] == "s.t"
    assert args["WHERESQL"] == "id > 3" and args["N_JOBS"] == 2
    assert args["REQUIRED_MEMORY"] == 2048 and "REQUIRED_CPU" not in args
    assert args["MODEL"] == "gradient_boosting_classifier" and args["VALIDATION_DATA"] == "train"
    assert future.result(timeout=10)["state"] == "succeeded"
    predicted = model.predict(file_id=5, primary_key=None, dvs_to_predict="b")
    args = client.scripts.post_custom.call_args.kwargs["arguments"]
    assert args["TRAIN_JOB"] == 70 and args["TRAIN_RUN"] == 71 and args["PRIMARY_KEY"] is None
    assert args["TARGET_COLUMN"] == "b" and args["CIVIS_FILE_ID"] == 5
    assert not predicted.is_training and predicted.train_job_id == 70


def test_old_versions_get_only_the_arguments_they_know():
    client = _mock_client(_V2_2)
    model = ModelPipeline("sparse_logistic", "y", client=client, civisml_version="v1.4")
    model.train(file_id=3, n_jobs=4)
    args = client.scripts.post_custom.call_args.kwargs["arguments"]
    assert "N_JOBS" not in args and "VALIDATION_DATA" not in args
    with pytest.raises(NotImplementedError, match="etl"):
        ModelPipeline("sparse_logistic", "y", etl=object(), client=client, civisml_version="v1.4")


def test_versions_and_sources_are_checked():
    client = _mock_client(_V2_2)
    with pytest.raises(ValueError, match=r'"v9.9" is an invalid CivisML version.*"v1.4"'):
        ModelPipeline("sparse_logistic", "y", client=client, civisml_version="v9.9")
    model = ModelPipeline("sparse_logistic", "y", client=client)
    with pytest.raises(ValueError, match="Provide a source of data"):
        model.train()
    with pytest.raises(ValueError, match="single source"):
        model.train(file_id=1, table_name="a.b", database_name="db")
    with pytest.raises(ValueError, match="hasn't been trained"):
        model.predict(file_id=1)
    nothing = _mock_client({})
    with pytest.raises(CivisAPIError, match="No CivisML template"):
        ModelPipeline("sparse_logistic", "y", client=nothing)


def test_list_models_filters_by_template_and_author():
    client = _mock_client(_V2_2)
    client.users.get_me.return_value = Response({"id": 9})
    client.scripts.list_custom.return_value = []
    list_models(job_type="predict", client=client)
    kwargs = client.scripts.list_custom.call_args.kwargs
    assert kwargs == {"from_template_id": "9113, 11220", "author": 9, "order_dir": "desc"}
    list_models(author=None, client=client, limit=3)
    kwargs = client.scripts.list_custom.call_args.kwargs
    assert kwargs["from_template_id"] == "9112, 11219" and kwargs["author"] is None
    with pytest.raises(ValueError, match="job_type"):
        list_models(job_type="both", client=client)
