"""The CivisML worker: what a training, prediction or registration run does.

A run of a CivisML template executes ``python -m civis_jupyter.platform.civisml
train|predict|register`` as an ordinary platform run. The worker reads its
arguments from the environment (the custom script's arguments), talks to the
platform only through the API with the run's own key (``CIVIS_API_KEY``,
``CIVIS_API_ENDPOINT``, ``CIVIS_JOB_ID``, ``CIVIS_RUN_ID``), and attaches
its results to the run as file outputs, ``model_info.json`` last.

A run that fails attaches only a ``model_info.json`` whose ``run.status`` is
``"exception"`` and whose ``run.stack_trace`` is the one-line error (so that
clients reading the metadata raise it at once), prints that line last on
standard error (so it is the run's error) and exits with status 1. Tables
are written only once everything else succeeded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import data as data_mod
from .errors import CivisMLError
from .metrics import classification_metrics, combine, regression_metrics
from .models import FOLDS, apply_parameters, build_model, calibrate, param_path, search

__all__ = ["BATCH_ROWS", "CIVISML_VERSION", "main", "predict", "register", "train"]

#: Rows scored at a time by prediction runs (``CIVISML_BATCH_ROWS`` overrides).
BATCH_ROWS = 50_000
#: The CivisML version this worker answers for.
CIVISML_VERSION = "v2.3-local"
_MAX_WARNINGS = 50
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_IF_EXISTS = ("fail", "append", "drop", "truncate")


def log(message: str) -> None:
    """A progress line in the run's log."""
    print(message, flush=True)


@dataclass
class Run:
    """The run the worker serves: its client, ids, arguments and results."""

    client: Any
    job_id: int
    run_id: int
    env: dict[str, str]
    work: Path
    warnings: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    @classmethod
    def from_env(cls) -> Run:
        """The run of this process, from the variables the platform sets."""
        from ...api.client import APIClient

        env = dict(os.environ)
        try:
            job_id, run_id = int(env["CIVIS_JOB_ID"]), int(env["CIVIS_RUN_ID"])
        except (KeyError, ValueError):
            raise CivisMLError("CIVIS_JOB_ID and CIVIS_RUN_ID must name this run") from None
        return cls(APIClient(), job_id, run_id, env, Path.cwd())

    def arg(self, name: str) -> str | None:
        """An argument's text, ``None`` when unset or blank."""
        value = self.env.get(name)
        return value.strip() if value is not None and value.strip() else None

    def json_arg(self, name: str, default: Any) -> Any:
        """A JSON argument (a one-line error when it is not JSON)."""
        text = self.arg(name)
        if text is None:
            return default
        try:
            return json.loads(text)
        except ValueError:
            if name == "CVPARAMS" and text == "hyperband":
                return text
            raise CivisMLError(f"{name} is not valid JSON: {text[:80]!r}") from None

    def int_arg(self, name: str) -> int | None:
        """An integer argument."""
        text = self.arg(name)
        if text is None:
            return None
        try:
            return int(float(text))
        except ValueError:
            raise CivisMLError(f"{name} must be an integer, not {text!r}") from None

    def upload(self, path: Path, name: str) -> int:
        """Upload a file of the run's directory as a (non-expiring) Civis file."""
        from ...io import file_to_civis

        return int(file_to_civis(path, name, expires_at=None, client=self.client))

    def attach(self, file_ids: Sequence[int]) -> None:
        """Make files outputs of this run, in order."""
        for file_id in file_ids:
            self.client.scripts.post_containers_runs_outputs(
                self.job_id, self.run_id, object_type="File", object_id=int(file_id)
            )

    def write_json(self, obj: Any, name: str) -> Path:
        """Write a JSON file into the run's directory."""
        path = self.work / name
        path.write_text(json.dumps(obj, default=_json_default, indent=1), encoding="utf-8")
        return path

    def fail(self, message: str) -> None:
        """Attach the failure's ``model_info.json`` (best effort)."""
        info = {
            "run": {
                "status": "exception",
                "stack_trace": message,
                "job_id": self.job_id,
                "run_id": self.run_id,
                "civisml_version": CIVISML_VERSION,
            },
            "warnings": self.warnings,
        }
        try:
            path = self.write_json(info, "model_info.json")
            self.attach([self.upload(path, "model_info.json")])
        except Exception as exc:  # the run fails anyway; say why the metadata is missing
            log(f"could not attach model_info.json: {type(exc).__name__}: {exc}")


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.bool_):
        return bool(value)
    return str(value)


def _words(text: str | None) -> list[str]:
    return text.split() if text else []


# -- warnings ---------------------------------------------------------------------------


def _warning_line(message: Any, category: type, filename: str, lineno: int) -> str:
    """``file.py:12: Category: message``, the form CivisML clients parse."""
    name = os.path.basename(str(filename)).replace(" ", "_").replace(":", "_") or "civisml"
    text = " ".join(str(message).split())
    return f"{name}:{lineno}: {category.__name__}: {text}"


def _recorder(run: Run) -> Callable[..., None]:
    """A ``warnings.showwarning`` that keeps each distinct warning (and logs it)."""

    def record(message: Any, category: type, filename: str, lineno: int, *_: Any) -> None:
        line = _warning_line(message, category, filename, lineno)
        if line not in run.warnings and len(run.warnings) < _MAX_WARNINGS:
            run.warnings.append(line)
            log(f"Warning: {line}")

    return record


# -- dependencies -------------------------------------------------------------------------


def install_dependencies(run: Run) -> None:
    """``pip install`` the run's ``DEPENDENCIES`` into its own directory."""
    if run.arg("GIT_CRED"):
        run.warnings.append(
            "civisml:0: UserWarning: GIT_CRED is ignored: the local platform cannot "
            "install private git repositories"
        )
    packages = _words(run.arg("DEPENDENCIES"))
    if not packages:
        return
    target = run.work / "dependencies"
    log(f"Installing {' '.join(packages)}")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), *packages],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise CivisMLError(f"installing DEPENDENCIES failed: {last}")
    sys.path.insert(0, str(target))


# -- estimators -------------------------------------------------------------------------------


def _download_pickle(run: Run, file_id: int, what: str) -> Any:
    """Load a joblib/pickle file by id."""
    import joblib

    from ...api.errors import CivisAPIError
    from ...io import civis_to_file

    path = run.work / f"{what.replace(' ', '_')}-{file_id}.pkl"
    try:
        civis_to_file(file_id, path, client=run.client)
    except CivisAPIError as exc:
        if exc.status_code == 404:
            raise CivisMLError(f"{what} file {file_id} does not exist") from None
        raise
    try:
        return joblib.load(path)
    except Exception as exc:
        raise CivisMLError(
            f"{what} file {file_id} is not a pickled estimator: {type(exc).__name__}: {exc}"
        ) from None


def _save_pickle(obj: Any, path: Path) -> Path:
    """Write ``obj`` as a gzipped cloudpickle, which ``joblib.load`` reads.

    cloudpickle carries classes and functions defined in a notebook
    (``__main__``) by value, so a user's own estimator class survives the trip
    back to the client; joblib's own pickler would refer to them by name and
    fail. The official client loads ``estimator.pkl`` with ``joblib.load``,
    which recognises the gzip stream.
    """
    import gzip

    import cloudpickle

    with gzip.open(path, "wb", compresslevel=3) as out:
        cloudpickle.dump(obj, out)
    return path


def _resolve_model(run: Run, model: str) -> tuple[Any, bool, str | None]:
    """The estimator, whether it classifies, and its predefined name (or ``None``)."""
    from sklearn.base import is_classifier

    if model.isdigit():
        estimator = _download_pickle(run, int(model), "estimator")
        if not hasattr(estimator, "fit") or not hasattr(estimator, "predict"):
            raise CivisMLError(f"the estimator in file {model} has no fit and predict methods")
        return estimator, bool(is_classifier(estimator)), None
    estimator, classifier = build_model(model)
    return estimator, classifier, model


def _fit_param_path(wrapped: Any, base: Any, name: str) -> str:
    """Where a ``fit`` keyword goes in ``Pipeline([etl, wrapped])``."""
    from sklearn.calibration import CalibratedClassifierCV

    if isinstance(wrapped, CalibratedClassifierCV):
        return f"model__{name}"
    return "model__" + param_path(base, name)


# -- scores -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """How a model's outputs become score columns.

    Attributes
    ----------
    targets : list of str
    classifier : bool
    class_names : list of list
        Per target, its classes (classifiers only).
    """

    targets: list[str]
    classifier: bool
    class_names: list[list[Any]]

    def picked(self, target: int) -> list[int]:
        """Columns of a target's probabilities kept: the positive one of two, else all."""
        n = len(self.class_names[target])
        return [n - 1] if n == 2 else list(range(n))

    def groups(self) -> list[list[str]]:
        """Names of the score columns, target by target."""
        if not self.classifier:
            return [[target] for target in self.targets]
        return [
            [f"{target}_{self.class_names[t][i]}" for i in self.picked(t)]
            for t, target in enumerate(self.targets)
        ]

    def columns(self, wanted: Sequence[str] = ()) -> list[str]:
        """Names of the score columns (of the ``wanted`` targets only, if given)."""
        return [
            name
            for target, group in zip(self.targets, self.groups())
            if not wanted or target in wanted
            for name in group
        ]

    def matrix(self, outputs: Any) -> Any:
        """Score columns from ``predict_proba`` (classifiers) or ``predict`` outputs."""
        import numpy as np

        if not self.classifier:
            values = np.asarray(outputs, dtype=float)
            return values.reshape(len(values), -1)
        per_target = outputs if isinstance(outputs, list) else [outputs]
        blocks = [np.asarray(p, dtype=float)[:, self.picked(t)] for t, p in enumerate(per_target)]
        return np.hstack(blocks)

    def scores(self, estimator: Any, features: Any) -> Any:
        """A DataFrame of score columns for some rows."""
        import pandas as pd

        outputs = (
            estimator.predict_proba(features) if self.classifier else estimator.predict(features)
        )
        return pd.DataFrame(self.matrix(outputs), columns=self.columns(), index=features.index)


def _score_frame(pk: str | None, keys: Any, scores: Any) -> Any:
    if pk is None:
        return scores.reset_index(drop=True)
    out = scores.reset_index(drop=True)
    out.insert(0, pk, list(keys))
    return out


def _write_predictions(frame: Any, path: Path, header: bool, mode: str = "wt") -> None:
    import gzip

    with gzip.open(path, mode, encoding="utf-8", newline="") as f:
        frame.to_csv(f, index=False, header=header)


# -- output tables ------------------------------------------------------------------------


def _sql_type(series: Any, declared: str | None = None) -> str:
    from pandas.api import types

    if declared:
        return declared
    if types.is_bool_dtype(series.dtype):
        return "BOOLEAN"
    if types.is_integer_dtype(series.dtype):
        return "BIGINT"
    if types.is_float_dtype(series.dtype):
        return "DOUBLE PRECISION"
    return "VARCHAR"


@dataclass(frozen=True)
class TableTarget:
    """A table scores go to: its name, database and what to do if it exists."""

    table: str
    database_id: int
    if_exists: str

    def check(self, run: Run) -> None:
        """Fail early when the table exists and ``IF_EXISTS`` is ``fail``."""
        from ...api.errors import CivisAPIError

        if self.if_exists not in _IF_EXISTS:
            raise CivisMLError(f"IF_EXISTS must be one of {', '.join(_IF_EXISTS)}")
        if "." not in self.table:
            raise CivisMLError(f"output table must be schema.table, not {self.table!r}")
        if self.if_exists != "fail":
            return
        schema, name = self.table.split(".", 1)
        try:
            run.client.databases.get_schemas_tables(self.database_id, schema, name)
        except CivisAPIError as exc:
            if exc.status_code == 404:
                return
            raise
        raise CivisMLError(f"table {self.table} already exists (IF_EXISTS is fail)")

    def load(self, run: Run, file_id: int, columns: list[dict[str, str]]) -> None:
        """Import the scores file into the table (through the platform's import)."""
        from ...io import civis_file_to_table

        log(f"Writing the scores to table {self.table}")
        future = civis_file_to_table(
            file_id,
            self.database_id,
            self.table,
            client=run.client,
            existing_table_rows=self.if_exists,
            table_columns=columns,
            delimiter=",",
            headers=True,
        )
        try:
            future.result()
        except Exception as exc:
            raise CivisMLError(f"writing table {self.table} failed: {exc}") from None


def _table_target(
    run: Run, table_var: str, db_var: str, fallback: int | None
) -> TableTarget | None:
    table = run.arg(table_var)
    if table is None:
        return None
    db = data_mod.database_id(run.client, run.arg(db_var)) or fallback
    if db is None:
        raise CivisMLError(f"{table_var} {table} needs a database ({db_var})")
    return TableTarget(table, db, (run.arg("IF_EXISTS") or "fail").lower())


# -- training -----------------------------------------------------------------------------


@dataclass
class Training:
    """What a training run was asked to do."""

    model: str
    targets: list[str]
    primary_key: str | None
    excluded: list[str]
    params: dict[str, Any]
    cv_params: Any
    calibration: str | None
    fit_params: dict[str, str]
    validate: bool
    n_jobs: int | None
    etl_file: int | None

    @classmethod
    def from_run(cls, run: Run) -> Training:
        model = run.arg("MODEL") or run.arg("WORKFLOW")
        if model is None:
            raise CivisMLError("MODEL is required: a predefined model name or an estimator file")
        targets = _words(run.arg("TARGET_COLUMN"))
        if not targets:
            raise CivisMLError("TARGET_COLUMN is required")
        params = run.json_arg("PARAMS", {}) or {}
        fit_params = run.json_arg("FIT_PARAMS", {}) or {}
        if not isinstance(params, dict) or not isinstance(fit_params, dict):
            raise CivisMLError("PARAMS and FIT_PARAMS must be JSON objects")
        validation = (run.arg("VALIDATION_DATA") or "train").lower()
        if validation not in ("train", "skip"):
            raise CivisMLError(f"VALIDATION_DATA must be train or skip, not {validation!r}")
        return cls(
            model=model,
            targets=targets,
            primary_key=run.arg("PRIMARY_KEY"),
            excluded=_words(run.arg("EXCLUDE_COLS")),
            params=params,
            cv_params=run.json_arg("CVPARAMS", {}) or {},
            calibration=run.arg("CALIBRATION"),
            fit_params={str(k): str(v) for k, v in fit_params.items()},
            validate=validation == "train",
            n_jobs=run.int_arg("N_JOBS"),
            etl_file=run.int_arg("ETL"),
        )

    def named_columns(self) -> dict[str, list[str]]:
        """Columns the arguments name, by the argument naming them."""
        return {
            "TARGET_COLUMN": self.targets,
            "PRIMARY_KEY": [self.primary_key] if self.primary_key else [],
            "EXCLUDE_COLS": self.excluded,
            "FIT_PARAMS": list(self.fit_params.values()),
        }


def _check_columns(named: dict[str, list[str]], available: Sequence[str], where: str) -> None:
    have = set(available)
    for argument, columns in named.items():
        for column in columns:
            if column not in have:
                raise CivisMLError(f"column {column!r} ({argument}) not found in {where}")


def _prepare_targets(frame: Any, cfg: Training, classifier: bool, name: str) -> Any:
    """Drop rows without targets; check primary key and target types."""
    frame = frame.dropna(subset=cfg.targets)
    if len(frame) == 0:
        raise CivisMLError(f"target column {cfg.targets[0]!r} has no values")
    if cfg.primary_key:
        dupes = frame[cfg.primary_key][frame[cfg.primary_key].duplicated()]
        if len(dupes):
            raise CivisMLError(
                f"primary key {cfg.primary_key!r} has duplicate values (e.g. {dupes.iloc[0]!r})"
            )
    for target in cfg.targets:
        column = frame[target]
        if not classifier and not data_mod.is_numeric(column):
            raise CivisMLError(
                f"model {name!r} is a regressor but target column {target!r} is not numeric"
            )
        if classifier and column.nunique() < 2:
            raise CivisMLError(f"target column {target!r} has only one class")
    return frame


def _targets(frame: Any, cfg: Training, classifier: bool) -> tuple[Any, list[list[Any]]]:
    """The target array and, for classifiers, each target's classes (sorted)."""
    import numpy as np
    from pandas.api import types

    y = frame[cfg.targets].copy()
    classes: list[list[Any]] = []
    if classifier:
        for target in cfg.targets:
            column = y[target]
            if types.is_bool_dtype(column.dtype):
                column = column.astype("int64")
            elif not data_mod.is_numeric(column):
                column = column.astype(str)
            elif bool((column == column.round()).all()):
                column = column.astype("int64")
            y[target] = column
        if len(cfg.targets) > 1 and not all(data_mod.is_numeric(y[t]) for t in cfg.targets):
            y = y.astype(str)  # one array type for every target
        classes = [np.unique(y[t].to_numpy()).tolist() for t in cfg.targets]
    array = y.to_numpy()
    return (array[:, 0] if len(cfg.targets) == 1 else array), classes


def _pipeline(
    run: Run,
    cfg: Training,
    base: Any,
    name: str | None,
    classifier: bool,
    numeric: list[str],
    categorical: list[str],
) -> tuple[Any, Any]:
    """The pipeline to fit (ETL, then the wrapped model) and the wrapped model."""
    from sklearn.multioutput import MultiOutputClassifier, MultiOutputRegressor
    from sklearn.pipeline import Pipeline

    apply_parameters(base, cfg.params)
    wrapped = search(base, name, cfg.cv_params, classifier, cfg.n_jobs)
    wrapped = calibrate(wrapped, cfg.calibration, classifier)
    if len(cfg.targets) > 1:
        wrapped = (MultiOutputClassifier if classifier else MultiOutputRegressor)(wrapped)
    if cfg.etl_file is not None:
        etl = _download_pickle(run, cfg.etl_file, "ETL")
    else:
        etl = data_mod.build_etl(numeric, categorical)
    return Pipeline([("etl", etl), ("model", wrapped)]), wrapped


def _validate(
    pipeline: Any, features: Any, y: Any, layout: Layout, fit_kw: dict[str, Any], cfg: Training
) -> tuple[Any, dict[str, Any]]:
    """Out-of-sample scores (cross-validation) and their metrics."""
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

    single = len(layout.targets) == 1
    if layout.classifier and single:
        folds: Any = StratifiedKFold(FOLDS, shuffle=True, random_state=42)
    else:
        folds = KFold(FOLDS, shuffle=True, random_state=42)
    log(f"Cross-validating ({FOLDS} folds) on {len(features):,} rows")
    try:
        outputs = cross_val_predict(
            pipeline,
            features,
            y,
            cv=folds,
            method="predict_proba" if layout.classifier else "predict",
            params=fit_kw or None,
            n_jobs=cfg.n_jobs,
        )
    except ValueError as exc:
        raise CivisMLError(f"cross-validation failed: {exc}") from None
    per_target = []
    for t in range(len(layout.targets)):
        truth = y if single else y[:, t]
        if layout.classifier:
            proba = outputs if single else outputs[t]
            per_target.append(classification_metrics(truth, proba, layout.class_names[t]))
        else:
            predicted = outputs if single else outputs[:, t]
            per_target.append(regression_metrics(truth, predicted))
    return layout.matrix(outputs), combine(per_target)


def _feature_names(etl: Any) -> list[str] | None:
    try:
        return [str(n) for n in etl.get_feature_names_out()]
    except Exception:  # custom ETL, or names that collide
        return None


def _describe_model(pipeline: Any) -> dict[str, Any]:
    """What the fitted model is, its coefficients or importances, its best parameters."""
    import numpy as np
    from sklearn.model_selection._search import BaseSearchCV
    from sklearn.pipeline import Pipeline

    names = _feature_names(pipeline.named_steps["etl"])
    model = pipeline.named_steps["model"]
    out: dict[str, Any] = {"parameters": {}, "feature_importances": None, "best_parameters": None}
    if isinstance(model, BaseSearchCV):
        out["best_parameters"] = model.best_params_
        model = model.best_estimator_
    while isinstance(model, Pipeline):
        for _step, part in model.steps[:-1]:
            support = getattr(part, "get_support", None)
            if support is not None and names is not None:
                names = [n for n, keep in zip(names, support()) if keep]
        model = model.steps[-1][1]
    out["estimator"] = type(model).__name__
    weights = None
    if hasattr(model, "coef_"):
        coef = np.atleast_2d(np.asarray(model.coef_, dtype=float))
        out["parameters"] = {
            "coef": coef.tolist(),
            "intercept": np.atleast_1d(getattr(model, "intercept_", 0.0)).tolist(),
            "relvars": names,
        }
        weights = coef[0] if coef.shape[0] == 1 else np.abs(coef).mean(axis=0)
    elif hasattr(model, "feature_importances_"):
        weights = np.asarray(model.feature_importances_, dtype=float)
    if weights is not None and names is not None and len(names) == len(weights):
        order = np.argsort(-np.abs(weights), kind="stable")[:50]
        out["feature_importances"] = [
            {"name": names[i], "importance": float(weights[i])} for i in order
        ]
    return out


def _table_columns(pk: str | None, pk_type: str, score_columns: list[str]) -> list[dict]:
    columns = [{"name": pk, "sql_type": pk_type}] if pk else []
    return columns + [{"name": c, "sql_type": "DOUBLE PRECISION"} for c in score_columns]


def train(run: Run) -> None:
    """Train a model: cross-validate, fit on every row, attach the outputs."""
    cfg = Training.from_run(run)
    source = data_mod.source_from_env(run.client, run.env)
    oos_table = _table_target(run, "OOSTABLE", "OOSDB", source.database_id)
    if oos_table is not None:
        oos_table.check(run)
    install_dependencies(run)
    base, classifier, name = _resolve_model(run, cfg.model)
    display = name or f"estimator in file {cfg.model}"
    log(f"CivisML training: {display}, target {' '.join(cfg.targets)}, from {source.describe()}")
    declared: dict[str, str] = {}
    if source.table:
        declared = dict(data_mod.table_columns(run.client, source))
        _check_columns(cfg.named_columns(), list(declared), source.describe())
    frame = data_mod.read_frame(run.client, source, run.work)
    _check_columns(cfg.named_columns(), [str(c) for c in frame.columns], source.describe())
    frame = _prepare_targets(frame, cfg, classifier, display)
    y, classes = _targets(frame, cfg, classifier)
    pk = cfg.primary_key
    ignored = [*cfg.targets, *([pk] if pk else []), *cfg.excluded, *cfg.fit_params.values()]
    numeric, categorical = data_mod.feature_columns(frame, ignored)
    features = data_mod.coerce(frame, numeric, categorical)
    log(f"{len(frame):,} rows; {len(numeric)} numeric and {len(categorical)} text features")
    pipeline, wrapped = _pipeline(run, cfg, base, name, classifier, numeric, categorical)
    fit_kw = {
        _fit_param_path(wrapped, base, param): frame[column].to_numpy()
        for param, column in cfg.fit_params.items()
    }
    layout = Layout(cfg.targets, classifier, classes)
    outputs: list[tuple[Path, str]] = []
    metrics = None
    oos_file = None
    if cfg.validate:
        scores, metrics = _validate(pipeline, features, y, layout, fit_kw, cfg)
        _log_metrics(metrics, classifier)
        import pandas as pd

        table = _score_frame(
            pk, frame[pk] if pk else None, pd.DataFrame(scores, columns=layout.columns())
        )
        _write_predictions(table, run.work / "predictions.csv.gz", header=True)
    log("Fitting on every row")
    try:
        pipeline.fit(features, y, **fit_kw)
    except ValueError as exc:
        raise CivisMLError(f"fitting failed: {exc}") from None
    outputs.append((_save_pickle(pipeline, run.work / "estimator.pkl"), "estimator.pkl"))
    ids = {name_: run.upload(path, name_) for path, name_ in outputs}
    if metrics is not None:
        oos_file = run.upload(run.work / "predictions.csv.gz", "predictions.csv.gz")
        ids["predictions.csv.gz"] = oos_file
    data_info = {
        "target_columns": cfg.targets,
        "primary_key": pk,
        "feature_columns": numeric + categorical,
        "numeric_columns": numeric,
        "categorical_columns": categorical,
        "excluded_columns": cfg.excluded,
        "n_rows": len(frame),
        "n_columns": len(frame.columns),
        "class_names": (classes[0] if len(classes) == 1 else classes) if classifier else None,
        "n_unique_targets": [len(c) for c in classes] if classifier else None,
        "score_columns": layout.columns(),
    }
    run_info = _run_info(run, "succeeded", source, cfg, name)
    if metrics is not None:
        ids["metrics.json"] = run.upload(
            run.write_json(
                {"metrics": metrics, "run": run_info, "data": data_info}, "metrics.json"
            ),
            "metrics.json",
        )
    if oos_table is not None and oos_file is not None:
        pk_type = declared.get(pk or "", "") or (_sql_type(frame[pk]) if pk else "")
        oos_table.load(run, oos_file, _table_columns(pk, pk_type, layout.columns()))
    model_info = {
        "run": run_info,
        "data": data_info,
        "model": {"name": cfg.model, "type": _kind(classifier), **_describe_model(pipeline)},
        "output_file_ids": [oos_file] if oos_file else [],
        "metrics_file_id": ids.get("metrics.json"),
        "estimator_file_id": ids["estimator.pkl"],
        "warnings": run.warnings,
    }
    ids["model_info.json"] = run.upload(
        run.write_json(model_info, "model_info.json"), "model_info.json"
    )
    run.attach(list(ids.values()))
    log(f"Done in {time.time() - run.started:.1f}s")


def _kind(classifier: bool) -> str:
    return "classification" if classifier else "regression"


def _log_metrics(metrics: dict[str, Any], classifier: bool) -> None:
    keys = ("roc_auc", "accuracy", "log_loss") if classifier else ("r_squared", "rmse", "mad")
    shown = []
    for key in keys:
        value = metrics.get(key)
        if isinstance(value, float):
            shown.append(f"{key} {value:.4f}")
    if shown:
        log("Out-of-sample " + ", ".join(shown))


def _run_info(
    run: Run, status: str, source: Any, cfg: Training | None, name: str | None
) -> dict[str, Any]:
    data = {
        "location": source.location() if source is not None else None,
        "table_name": getattr(source, "table", None),
        "database_id": getattr(source, "database_id", None),
        "file_id": getattr(source, "file_id", None),
        "sql_where": getattr(source, "where", None),
        "sql_limit": getattr(source, "limit", None),
        "primary_key": cfg.primary_key if cfg else run.arg("PRIMARY_KEY"),
        "target_columns": cfg.targets if cfg else _words(run.arg("TARGET_COLUMN")),
        "excluded_columns": cfg.excluded if cfg else [],
    }
    model = None
    if cfg is not None:
        model = {
            "name": cfg.model,
            "predefined": name is not None,
            "parameters": cfg.params,
            "cross_validation_parameters": cfg.cv_params,
            "calibration": cfg.calibration,
            "fit_params": cfg.fit_params,
            "validation": "train" if cfg.validate else "skip",
        }
    return {
        "status": status,
        "stack_trace": None,
        "job_id": run.job_id,
        "run_id": run.run_id,
        "civisml_version": CIVISML_VERSION,
        "elapsed_seconds": round(time.time() - run.started, 3),
        "configuration": {"data": data, "model": model},
    }


# -- prediction ------------------------------------------------------------------------------


def _model_outputs(run: Run, job_id: int, run_id: int) -> dict[str, int]:
    """File outputs of a training or registration run, by name."""
    from ...api.errors import CivisAPIError

    try:
        listed = run.client.jobs.list_runs_outputs(job_id, run_id)
    except CivisAPIError as exc:
        if exc.status_code == 404:
            raise CivisMLError(f"training job {job_id} run {run_id} not found") from None
        raise
    return {o["name"]: int(o["object_id"]) for o in listed if o["object_type"] == "File"}


def _load_model(run: Run, job_id: int, run_id: int) -> tuple[dict[str, Any], Any]:
    """The metadata and the fitted estimator of a training or registration run."""
    from ...io import file_to_json

    found = _model_outputs(run, job_id, run_id)
    if "model_info.json" not in found:
        raise CivisMLError(f"training job {job_id} run {run_id} is not a finished CivisML model")
    meta = file_to_json(found["model_info.json"], client=run.client)
    if (meta.get("run") or {}).get("status") != "succeeded" or "estimator.pkl" not in found:
        raise CivisMLError(f"training job {job_id} run {run_id} failed: it has no model")
    return meta, _download_pickle(run, found["estimator.pkl"], "estimator")


def _prediction_layout(meta: dict[str, Any], estimator: Any, wanted: list[str]) -> Layout:
    """How a model's outputs become score columns, from its metadata."""
    data = meta.get("data") or {}
    model = meta.get("model") or {}
    classifier = model.get("type") == "classification"
    targets = list(data.get("target_columns") or [])
    classes = data.get("class_names")
    if classifier and classes is None:
        fitted = getattr(estimator, "classes_", None)
        if isinstance(fitted, list):
            classes = [list(c) for c in fitted]
        else:
            classes = [] if fitted is None else list(fitted)
    if classifier and classes and not isinstance(classes[0], list):
        classes = [classes]
    if not targets:  # a registered model without target names
        count = len(classes or []) if classifier else 1
        targets = [f"score{i}" for i in range(count)] if count > 1 else ["score"]
    unknown = [t for t in wanted if t not in targets]
    if unknown:
        raise CivisMLError(f"TARGET_COLUMN {unknown[0]!r} is not a target of this model")
    return Layout(targets, classifier, classes or [])


def _rows_per_batch(run: Run) -> int:
    value = run.int_arg("CIVISML_BATCH_ROWS") or BATCH_ROWS
    return max(1, value)


def predict(run: Run) -> None:
    """Score a table or file with a trained model, batch by batch."""
    import pandas as pd

    job_id, run_id = run.int_arg("TRAIN_JOB"), run.int_arg("TRAIN_RUN")
    if job_id is None or run_id is None:
        raise CivisMLError("TRAIN_JOB and TRAIN_RUN are required")
    source = data_mod.source_from_env(run.client, run.env)
    out_table = _table_target(run, "OUTPUT_TABLE", "OUTPUT_DB", source.database_id)
    if out_table is not None:
        out_table.check(run)
    meta, estimator = _load_model(run, job_id, run_id)
    wanted = _words(run.arg("TARGET_COLUMN"))
    layout = _prediction_layout(meta, estimator, wanted)
    data = meta.get("data") or {}
    numeric = list(data.get("numeric_columns") or [])
    categorical = list(data.get("categorical_columns") or [])
    registered = list(data.get("feature_columns") or []) if not (numeric or categorical) else []
    pk = run.arg("PRIMARY_KEY")
    features = numeric + categorical or registered
    columns = ([pk] if pk else []) + features if features else None
    declared: dict[str, str] = {}
    if source.table:
        declared = dict(data_mod.table_columns(run.client, source))
        _check_columns(
            {"features": features, "PRIMARY_KEY": [pk] if pk else []},
            list(declared),
            source.describe(),
        )
    log(f"CivisML prediction with job {job_id} run {run_id} on {source.describe()}")
    rows = _rows_per_batch(run)
    path = run.work / "predictions.csv.gz"
    keys: set[Any] = set()
    total = 0
    keep = layout.columns(wanted)
    pk_sample = None
    batches = data_mod.iter_batches(run.client, source, columns, categorical, rows, run.work)
    for batch in batches:
        if pk:
            if pk not in batch.columns:
                raise CivisMLError(f"column {pk!r} (PRIMARY_KEY) not found in {source.describe()}")
            fresh = batch[pk]
            if fresh.duplicated().any() or keys.intersection(fresh.tolist()):
                dupe = fresh[fresh.duplicated() | fresh.isin(keys)].iloc[0]
                raise CivisMLError(f"primary key {pk!r} has duplicate values (e.g. {dupe!r})")
            keys.update(fresh.tolist())
            pk_sample = fresh if pk_sample is None else pk_sample
        if numeric or categorical:
            x = data_mod.coerce(batch, numeric, categorical)
        elif registered:
            x = batch[registered]
        else:
            x = batch.drop(columns=[pk]) if pk else batch
        try:
            scores = layout.scores(estimator, x)
        except ValueError as exc:
            raise CivisMLError(f"the model could not score the rows: {exc}") from None
        out = _score_frame(pk, batch[pk] if pk else None, scores[keep])
        _write_predictions(out, path, header=total == 0, mode="wt" if total == 0 else "at")
        total += len(batch)
        log(f"Scored rows {total - len(batch) + 1:,} to {total:,}")
    if total == 0:
        raise CivisMLError(f"{source.describe()} has no rows")
    file_id = run.upload(path, "predictions.csv.gz")
    if out_table is not None:
        pk_type = declared.get(pk or "", "") or (
            _sql_type(pd.Series(list(pk_sample))) if pk and pk_sample is not None else ""
        )
        out_table.load(run, file_id, _table_columns(pk, pk_type, keep))
    train_data = ((meta.get("run") or {}).get("configuration") or {}).get("data") or {}
    scored = [t for t in layout.targets if not wanted or t in wanted]
    configuration = {
        "data": {
            "location": source.location(),
            "table_name": source.table,
            "database_id": source.database_id,
            "file_id": source.file_id,
            "primary_key": pk,
            "target_columns": scored,
        },
        "model": {"train_job_id": job_id, "train_run_id": run_id},
    }
    status = {"status": "succeeded", "stack_trace": None, "configuration": configuration}
    model_info = {
        "run": {
            **status,
            "job_id": run.job_id,
            "run_id": run.run_id,
            "civisml_version": CIVISML_VERSION,
            "elapsed_seconds": round(time.time() - run.started, 3),
        },
        "jobs": [{"id": run.job_id, "run": {"id": run.run_id, **status}}],
        "data": {
            "n_rows": total,
            "score_columns": keep,
            "target_columns": scored,
            "training_primary_key": train_data.get("primary_key"),
        },
        "output_file_ids": [file_id],
        "warnings": run.warnings,
    }
    info_id = run.upload(run.write_json(model_info, "model_info.json"), "model_info.json")
    run.attach([file_id, info_id])
    log(f"Done: {total:,} rows in {time.time() - run.started:.1f}s")


# -- registration ------------------------------------------------------------------------------


def register(run: Run) -> None:
    """Register a model trained elsewhere, so that prediction runs can use it."""
    from sklearn.base import is_classifier
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    file_id = run.int_arg("MODEL_FILE_ID")
    if file_id is None:
        raise CivisMLError("MODEL_FILE_ID is required")
    install_dependencies(run)
    estimator = _download_pickle(run, file_id, "model")
    classifier = bool(is_classifier(estimator))
    if (run.arg("SKIP_MODEL_CHECK") or "false").lower() != "true":
        if not hasattr(estimator, "predict"):
            raise CivisMLError(f"the model in file {file_id} has no predict method")
        if classifier and not hasattr(estimator, "predict_proba"):
            raise CivisMLError(
                f"the classifier in file {file_id} has no predict_proba method; "
                "wrap it in CalibratedClassifierCV"
            )
        try:
            check_is_fitted(estimator)
        except NotFittedError:
            raise CivisMLError(f"the model in file {file_id} is not fitted") from None
        except TypeError:
            pass  # not a scikit-learn estimator: trust it
    targets = _words(run.arg("TARGET_COLUMN"))
    features = _words(run.arg("FEATURE_COLUMNS"))
    classes = None
    if classifier and hasattr(estimator, "classes_"):
        fitted = estimator.classes_
        classes = [list(c) for c in fitted] if isinstance(fitted, list) else list(fitted)
    log(f"Registered {type(estimator).__name__} ({_kind(classifier)}) from file {file_id}")
    found = run.client.files.get(file_id)
    if found["name"] == "estimator.pkl":
        estimator_id = file_id
    else:
        estimator_id = run.upload(
            _save_pickle(estimator, run.work / "estimator.pkl"), "estimator.pkl"
        )
    run_info = {
        "status": "succeeded",
        "stack_trace": None,
        "job_id": run.job_id,
        "run_id": run.run_id,
        "civisml_version": CIVISML_VERSION,
        "configuration": {
            "data": {
                "primary_key": None,
                "location": f"civis://files/{file_id}",
                "target_columns": targets,
                "feature_columns": features,
            },
            "model": {"name": type(estimator).__name__, "file_id": file_id, "registered": True},
        },
    }
    model_info = {
        "run": run_info,
        "data": {
            "target_columns": targets,
            "feature_columns": features,
            "class_names": classes,
            "n_unique_targets": None if classes is None else [len(classes)],
        },
        "model": {"name": type(estimator).__name__, "type": _kind(classifier), "registered": True},
        "output_file_ids": [],
        "estimator_file_id": estimator_id,
        "warnings": run.warnings,
    }
    info_id = run.upload(run.write_json(model_info, "model_info.json"), "model_info.json")
    run.attach([estimator_id, info_id])


# -- entry point --------------------------------------------------------------------------------

ACTIONS: dict[str, Callable[[Run], None]] = {
    "train": train,
    "predict": predict,
    "register": register,
}


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, CivisMLError):
        return str(exc)
    text = " ".join(str(exc).split()) or "no message"
    return f"{type(exc).__name__}: {text}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one CivisML action (``train``, ``predict`` or ``register``).

    Returns
    -------
    int
        0 on success, 1 on failure (the error is the last line on stderr).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] not in ACTIONS:
        print(
            f"usage: python -m civis_jupyter.platform.civisml {{{'|'.join(ACTIONS)}}}",
            file=sys.stderr,
        )
        return 2
    action = args[0]
    for name in _THREAD_VARIABLES:  # one BLAS thread per process unless told otherwise
        os.environ.setdefault(name, os.environ.get("N_JOBS") or "1")
    run: Run | None = None
    try:
        run = Run.from_env()
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _recorder(run)
            ACTIONS[action](run)
        return 0
    except Exception as exc:  # every failure ends the run with one line
        if not isinstance(exc, CivisMLError):
            traceback.print_exc(file=sys.stdout)
        message = _one_line(exc)
        if run is not None:
            run.fail(message)
        sys.stdout.flush()
        print(f"CivisML {action} failed: {message}", file=sys.stderr, flush=True)
        return 1
