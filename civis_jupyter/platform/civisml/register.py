"""Registration runs: a model trained elsewhere, made usable by prediction runs."""

from __future__ import annotations

from .dependencies import install_dependencies
from .errors import CivisMLError
from .estimators import _download_pickle, _kind, _save_pickle
from .run import CIVISML_VERSION, Run, _words, log


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
