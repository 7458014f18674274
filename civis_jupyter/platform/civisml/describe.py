"""A trained model's metadata: the fitted model and the run's configuration."""

from __future__ import annotations

import time
from typing import Any

from .args import Training
from .run import CIVISML_VERSION, Run, _words


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
