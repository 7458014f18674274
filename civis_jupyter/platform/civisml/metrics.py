"""Out-of-sample metrics in the shapes CivisML's ``metrics.json`` has.

Classification (one target), from the cross-validated probabilities:

- ``accuracy``, ``log_loss``: floats;
- ``confusion_matrix``: rows are true classes, columns predicted ones, in
  the order of ``class_names``;
- ``p_correct``, ``pop_incidence_true``, ``pop_incidence_pred``: one value
  per class;
- ``roc_auc``, ``brier_score``: a float for two classes (of the second,
  "positive" class), one per class (one-vs-rest) for more;
- ``roc_curve`` (``{"fpr", "tpr", "thresholds"}``, at most
  :data:`CURVE_POINTS` points), ``calibration_curve`` (``{"fop", "mpv"}``:
  fraction of positives and mean predicted value per bin) and ``deciles``
  (the positive fraction in each tenth of the scores, lowest first): one
  for two classes, a list per class for more;
- ``score_histogram``: a list (one per scored class) of ``[low, count, up]``
  bins.

Regression (one target): ``r_squared``, ``mse``, ``rmse``, ``mad`` (mean
absolute deviation, as CivisML names it) and ``mae`` (the same number),
``score_histogram`` (one list of bins) and ``y_yhat_plot`` (``values``: a
grid of counts, actual bins down and predicted across, with ``y_range``,
``y_step``, ``yhat_range`` and ``yhat_step``).

With several targets every metric is a list with one entry per target.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["CURVE_POINTS", "classification_metrics", "combine", "regression_metrics"]

#: Points kept of a ROC curve.
CURVE_POINTS = 200
_BINS = 10


def _num(value: Any) -> float | None:
    """A JSON-safe float (``None`` for NaN and infinities)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _nums(values: Any) -> list[float | None]:
    return [_num(v) for v in values]


def _thin(*arrays: Any, points: int = CURVE_POINTS) -> list[Any]:
    import numpy as np

    n = len(arrays[0])
    if n <= points:
        return list(arrays)
    keep = np.unique(np.linspace(0, n - 1, points).round().astype(int))
    return [a[keep] for a in arrays]


def _roc(y: Any, p: Any) -> dict[str, Any]:
    from sklearn.metrics import roc_curve

    fpr, tpr, thresholds = _thin(*roc_curve(y, p))
    return {"fpr": _nums(fpr), "tpr": _nums(tpr), "thresholds": _nums(thresholds)}


def _calibration(y: Any, p: Any) -> dict[str, Any]:
    from sklearn.calibration import calibration_curve

    fop, mpv = calibration_curve(y, p, n_bins=_BINS, strategy="uniform")
    return {"fop": _nums(fop), "mpv": _nums(mpv)}


def _deciles(y: Any, p: Any) -> list[float | None]:
    import numpy as np

    order = np.argsort(p, kind="stable")
    return [_num(np.mean(y[part])) if len(part) else None for part in np.array_split(order, 10)]


def _histogram(values: Any, low: float | None = None, up: float | None = None) -> list[list]:
    import numpy as np

    lo = float(np.min(values)) if low is None else low
    hi = float(np.max(values)) if up is None else up
    if hi <= lo:
        hi = lo + 1.0
    counts, edges = np.histogram(values, bins=_BINS, range=(lo, hi))
    return [[_num(edges[i]), int(counts[i]), _num(edges[i + 1])] for i in range(_BINS)]


def _auc(y: Any, p: Any) -> float | None:
    from sklearn.metrics import roc_auc_score

    if len(set(y.tolist())) < 2:
        return None
    return _num(roc_auc_score(y, p))


def classification_metrics(y: Any, proba: Any, classes: Sequence[Any]) -> dict[str, Any]:
    """Metrics of one target's out-of-sample class probabilities.

    Parameters
    ----------
    y : array-like
        True classes.
    proba : array of shape (n, len(classes))
        Probabilities, columns in the order of ``classes``.
    classes : sequence
        The classes.

    Returns
    -------
    dict
    """
    import numpy as np
    from sklearn.metrics import accuracy_score, confusion_matrix, log_loss

    truth = np.asarray(np.asarray(y).tolist())  # native types, not objects
    proba = np.asarray(proba, dtype=float)
    labels = list(classes)
    label_array = np.asarray(labels)
    predicted = label_array[np.argmax(proba, axis=1)]
    matrix = confusion_matrix(truth, predicted, labels=label_array)
    true_counts = matrix.sum(axis=1)
    out: dict[str, Any] = {
        "accuracy": _num(accuracy_score(truth, predicted)),
        "confusion_matrix": matrix.tolist(),
        "p_correct": [
            _num(matrix[i, i] / true_counts[i]) if true_counts[i] else None
            for i in range(len(labels))
        ],
        "pop_incidence_true": _nums(true_counts / max(len(truth), 1)),
        "pop_incidence_pred": _nums(matrix.sum(axis=0) / max(len(truth), 1)),
        "log_loss": _num(log_loss(truth, np.clip(proba, 1e-15, 1), labels=labels)),
    }
    per_class = []
    scored = [len(labels) - 1] if len(labels) == 2 else range(len(labels))
    for i in scored:
        hit = (truth == labels[i]).astype(int)
        p = proba[:, i]
        per_class.append(
            {
                "roc_auc": _auc(hit, p),
                "brier_score": _num(np.mean((p - hit) ** 2)),
                "roc_curve": _roc(hit, p) if hit.min() != hit.max() else None,
                "calibration_curve": _calibration(hit, p),
                "deciles": _deciles(hit, p),
                "score_histogram": _histogram(p, 0.0, 1.0),
            }
        )
    for key in ("roc_auc", "brier_score", "roc_curve", "calibration_curve", "deciles"):
        values = [c[key] for c in per_class]
        out[key] = values[0] if len(labels) == 2 else values
    out["score_histogram"] = [c["score_histogram"] for c in per_class]
    return out


def _centres(edges: Any) -> tuple[list[float | None], float | None]:
    centres = (edges[:-1] + edges[1:]) / 2
    return [_num(centres[0]), _num(centres[-1])], _num(edges[1] - edges[0])


def regression_metrics(y: Any, yhat: Any) -> dict[str, Any]:
    """Metrics of one target's out-of-sample predictions.

    Parameters
    ----------
    y : array-like
        True values.
    yhat : array-like
        Predicted values.

    Returns
    -------
    dict
    """
    import numpy as np
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    y = np.asarray(y, dtype=float)
    yhat = np.asarray(yhat, dtype=float)
    mse = float(mean_squared_error(y, yhat))
    mae = float(mean_absolute_error(y, yhat))
    counts, y_edges, yhat_edges = np.histogram2d(y, yhat, bins=_BINS)
    y_range, y_step = _centres(y_edges)
    yhat_range, yhat_step = _centres(yhat_edges)
    return {
        "r_squared": _num(r2_score(y, yhat)),
        "mse": _num(mse),
        "rmse": _num(math.sqrt(mse)),
        "mad": _num(mae),
        "mae": _num(mae),
        "score_histogram": [_histogram(yhat)],
        "y_yhat_plot": {
            "values": counts.astype(int).tolist(),
            "y_range": y_range,
            "y_step": y_step,
            "yhat_range": yhat_range,
            "yhat_step": yhat_step,
        },
    }


def combine(per_target: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One target's metrics as they are; several targets' as lists per metric."""
    if len(per_target) == 1:
        return dict(per_target[0])
    keys = list(per_target[0])
    return {key: [m.get(key) for m in per_target] for key in keys}
