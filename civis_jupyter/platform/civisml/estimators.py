"""Estimators of a run: loading, saving and resolving a model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import CivisMLError
from .models import build_model, param_path
from .run import Run


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


def _kind(classifier: bool) -> str:
    return "classification" if classifier else "regression"
