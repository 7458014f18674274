"""Cross-validation: a training run's out-of-sample scores and metrics."""

from __future__ import annotations

from typing import Any

from .args import Training
from .errors import CivisMLError
from .metrics import classification_metrics, combine, regression_metrics
from .models import FOLDS
from .run import log
from .scores import Layout


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


def _log_metrics(metrics: dict[str, Any], classifier: bool) -> None:
    keys = ("roc_auc", "accuracy", "log_loss") if classifier else ("r_squared", "rmse", "mad")
    shown = []
    for key in keys:
        value = metrics.get(key)
        if isinstance(value, float):
            shown.append(f"{key} {value:.4f}")
    if shown:
        log("Out-of-sample " + ", ".join(shown))
