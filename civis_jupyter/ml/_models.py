"""The names of CivisML's predefined models.

Pass one as ``ModelPipeline(model=...)``; anything else is either a fitted
or unfitted scikit-learn estimator of your own, or the id of a Civis file
holding one.
"""

from __future__ import annotations

__all__ = ["CLASSIFIERS", "PREDEFINED_MODELS", "REGRESSORS", "is_classifier_name"]

#: Predefined classification models.
CLASSIFIERS: tuple[str, ...] = (
    "sparse_logistic",
    "gradient_boosting_classifier",
    "random_forest_classifier",
    "extra_trees_classifier",
    "multilayer_perceptron_classifier",
    "stacking_classifier",
)

#: Predefined regression models.
REGRESSORS: tuple[str, ...] = (
    "sparse_linear_regressor",
    "sparse_ridge_regressor",
    "gradient_boosting_regressor",
    "random_forest_regressor",
    "extra_trees_regressor",
    "multilayer_perceptron_regressor",
    "stacking_regressor",
)

#: Every predefined model.
PREDEFINED_MODELS: tuple[str, ...] = CLASSIFIERS + REGRESSORS


def is_classifier_name(model: object) -> bool | None:
    """Whether a model name is a predefined classifier.

    Parameters
    ----------
    model : object
        A model name, or anything else.

    Returns
    -------
    bool or None
        ``True`` for a classifier, ``False`` for a regressor, ``None`` if
        ``model`` is not a predefined model's name.
    """
    if model in CLASSIFIERS:
        return True
    if model in REGRESSORS:
        return False
    return None
