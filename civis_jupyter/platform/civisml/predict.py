"""Prediction runs: score a table or file with a trained model, batch by batch."""

from __future__ import annotations

import time
from typing import Any

from . import data as data_mod
from .args import _check_columns
from .errors import CivisMLError
from .estimators import _download_pickle
from .outputs import _sql_type, _table_columns, _table_target
from .run import CIVISML_VERSION, Run, _words, log
from .scores import Layout, _score_frame, _write_predictions

#: Rows scored at a time by prediction runs (``CIVISML_BATCH_ROWS`` overrides).
BATCH_ROWS = 50_000


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
