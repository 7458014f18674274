"""Training runs: cross-validate, fit on every row, attach the outputs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from . import data as data_mod
from .args import Training, _check_columns
from .dependencies import install_dependencies
from .describe import _describe_model, _run_info
from .errors import CivisMLError
from .estimators import _download_pickle, _fit_param_path, _kind, _resolve_model, _save_pickle
from .models import apply_parameters, calibrate, search
from .outputs import _sql_type, _table_columns, _table_target
from .run import Run, log
from .scores import Layout, _score_frame, _write_predictions
from .validate import _log_metrics, _validate


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
