"""CivisML's predefined models, built from scikit-learn alone.

:func:`build_model` makes the estimator of a predefined model name;
:func:`apply_parameters` sets ``PARAMS`` on it; :func:`search` wraps it for
``CVPARAMS`` (a grid, or ``"hyperband"``); :func:`calibrate` wraps a
classifier for ``CALIBRATION``. The differences from CivisML's own
estimators are listed in :mod:`civis_jupyter.platform.civisml`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import CivisMLError

__all__ = [
    "CLASSIFIERS",
    "MODELS",
    "REGRESSORS",
    "ModelSpec",
    "apply_parameters",
    "build_model",
    "calibrate",
    "param_path",
    "search",
]

SEED = 42
#: Folds of every cross-validation CivisML runs here.
FOLDS = 4


def _logistic_cv(l1: bool, **kwargs: Any) -> Any:
    """``LogisticRegressionCV`` with an L1 or L2 penalty, in this scikit-learn's terms."""
    from sklearn.linear_model import LogisticRegressionCV

    known = LogisticRegressionCV().get_params()
    kwargs["scoring"] = "neg_log_loss"
    if "use_legacy_attributes" in known:  # scikit-learn >= 1.8 names penalties by l1_ratios
        kwargs.update(l1_ratios=(1.0 if l1 else 0.0,), use_legacy_attributes=False)
    else:
        kwargs["penalty"] = "l1" if l1 else "l2"
    return LogisticRegressionCV(**kwargs)


def _sparse_logistic() -> Any:
    from sklearn.feature_selection import SelectFromModel
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MaxAbsScaler

    # saga follows the regularisation path warm-started (liblinear refits
    # every C from scratch): the same selection several times faster.
    lasso = _logistic_cv(
        True, Cs=8, cv=3, solver="saga", random_state=SEED, tol=1e-4, max_iter=1000
    )
    return Pipeline(
        [
            ("scale", MaxAbsScaler()),
            ("select", SelectFromModel(lasso, threshold=1e-8)),
            ("model", LogisticRegression(C=499999950, tol=1e-8, max_iter=2000)),
        ]
    )


def _sparse_regressor(final: Any) -> Any:
    from sklearn.feature_selection import SelectFromModel
    from sklearn.linear_model import LassoCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MaxAbsScaler

    lasso = LassoCV(cv=3, random_state=SEED, max_iter=5000)
    return Pipeline(
        [
            ("scale", MaxAbsScaler()),
            ("select", SelectFromModel(lasso, threshold=1e-8)),
            ("model", final),
        ]
    )


def _sparse_linear() -> Any:
    from sklearn.linear_model import LinearRegression

    return _sparse_regressor(LinearRegression())


def _sparse_ridge() -> Any:
    from sklearn.linear_model import Ridge

    return _sparse_regressor(Ridge(random_state=SEED))


def _gbc() -> Any:
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(n_estimators=500, max_depth=2, random_state=SEED)


def _gbr() -> Any:
    from sklearn.ensemble import GradientBoostingRegressor

    return GradientBoostingRegressor(n_estimators=500, max_depth=2, random_state=SEED)


def _rfc() -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=500, max_depth=7, random_state=SEED)


def _rfr() -> Any:
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(n_estimators=500, max_depth=7, random_state=SEED)


def _etc() -> Any:
    from sklearn.ensemble import ExtraTreesClassifier

    return ExtraTreesClassifier(n_estimators=500, max_depth=7, random_state=SEED)


def _etr() -> Any:
    from sklearn.ensemble import ExtraTreesRegressor

    return ExtraTreesRegressor(n_estimators=500, max_depth=7, random_state=SEED)


def _mlp(classifier: bool) -> Any:
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MaxAbsScaler

    kind = MLPClassifier if classifier else MLPRegressor
    net = kind(
        hidden_layer_sizes=(256,),
        batch_size=64,
        max_iter=50,
        early_stopping=True,
        n_iter_no_change=5,
        random_state=SEED,
    )
    return Pipeline([("scale", MaxAbsScaler()), ("model", net)])


def _stacking_classifier() -> Any:
    from sklearn.ensemble import StackingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MaxAbsScaler, Normalizer

    ridge = Pipeline(
        [
            ("scale", MaxAbsScaler()),
            ("model", _logistic_cv(False, Cs=8, cv=FOLDS, tol=1e-5, max_iter=10000)),
        ]
    )
    meta = Pipeline(
        [
            ("normalize", Normalizer()),
            ("model", _logistic_cv(False, cv=FOLDS, tol=1e-8, max_iter=10000)),
        ]
    )
    return StackingClassifier(
        [
            ("gradient_boosting_classifier", _gbc()),
            ("random_forest_classifier", _rfc()),
            ("logistic_regression", ridge),
        ],
        final_estimator=meta,
        cv=FOLDS,
        stack_method="predict_proba",
    )


def _stacking_regressor() -> Any:
    from sklearn.ensemble import StackingRegressor
    from sklearn.linear_model import LinearRegression, RidgeCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MaxAbsScaler

    ridge = Pipeline([("scale", MaxAbsScaler()), ("model", RidgeCV(cv=FOLDS))])
    return StackingRegressor(
        [
            ("gradient_boosting_regressor", _gbr()),
            ("random_forest_regressor", _rfr()),
            ("ridge_regression", ridge),
        ],
        final_estimator=LinearRegression(positive=True),
        cv=FOLDS,
    )


@dataclass(frozen=True)
class ModelSpec:
    """A predefined model: its name, whether it classifies, and its maker."""

    name: str
    classifier: bool
    make: Callable[[], Any]
    hyperband: bool = True


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("sparse_logistic", True, _sparse_logistic, hyperband=False),
        ModelSpec("gradient_boosting_classifier", True, _gbc),
        ModelSpec("random_forest_classifier", True, _rfc),
        ModelSpec("extra_trees_classifier", True, _etc),
        ModelSpec("multilayer_perceptron_classifier", True, lambda: _mlp(True)),
        ModelSpec("stacking_classifier", True, _stacking_classifier),
        ModelSpec("sparse_linear_regressor", False, _sparse_linear, hyperband=False),
        ModelSpec("sparse_ridge_regressor", False, _sparse_ridge, hyperband=False),
        ModelSpec("gradient_boosting_regressor", False, _gbr),
        ModelSpec("random_forest_regressor", False, _rfr),
        ModelSpec("extra_trees_regressor", False, _etr),
        ModelSpec("multilayer_perceptron_regressor", False, lambda: _mlp(False)),
        ModelSpec("stacking_regressor", False, _stacking_regressor),
    )
}
CLASSIFIERS = tuple(name for name, spec in MODELS.items() if spec.classifier)
REGRESSORS = tuple(name for name, spec in MODELS.items() if not spec.classifier)


def build_model(name: str) -> tuple[Any, bool]:
    """The estimator of a predefined model, and whether it is a classifier.

    Raises
    ------
    CivisMLError
        For a name CivisML does not know.
    """
    spec = MODELS.get(name)
    if spec is None:
        raise CivisMLError(
            f"unknown model {name!r}: use a file id of a pickled estimator or one of "
            + ", ".join(MODELS)
        )
    return spec.make(), spec.classifier


def _final_step(model: Any) -> tuple[str, Any]:
    """The path prefix (inside ``model``) and the estimator parameters go to."""
    from sklearn.pipeline import Pipeline

    prefix = ""
    while isinstance(model, Pipeline):
        name, model = model.steps[-1]
        prefix += f"{name}__"
    return prefix, model


def param_path(model: Any, key: str) -> str:
    """Where a CivisML parameter name lives inside ``model``.

    ``C`` of ``sparse_logistic`` is its final logistic regression's; a
    stacking model's ``random_forest_classifier__max_depth`` is its random
    forest's and ``meta-estimator__C`` its final estimator's.
    """
    from sklearn.ensemble import StackingClassifier, StackingRegressor

    if isinstance(model, (StackingClassifier, StackingRegressor)):
        if key.startswith("meta-estimator__"):
            inner = key[len("meta-estimator__") :]
            prefix, _final = _final_step(model.final_estimator)
            return f"final_estimator__{prefix}{inner}"
        return key
    prefix, _final = _final_step(model)
    return prefix + key


def apply_parameters(model: Any, params: Mapping[str, Any]) -> Any:
    """Set ``PARAMS`` on a model (a one-line error for an unknown name)."""
    for key, value in params.items():
        try:
            model.set_params(**{param_path(model, key): value})
        except ValueError:
            raise CivisMLError(
                f"PARAMS: {type(_final_step(model)[1]).__name__} has no parameter {key!r}"
            ) from None
    return model


def _hyperband_space(name: str) -> tuple[str, int, int, dict[str, Any]]:
    """Resource, its bounds and the distributions hyperband samples for a model."""
    from scipy.stats import randint, truncexpon, uniform

    if name.startswith("gradient_boosting"):
        return (
            "n_estimators",
            100,
            1000,
            {
                "max_depth": randint(1, 5),
                "max_features": [None, "sqrt", "log2", 0.5, 0.3, 0.1, 0.05, 0.01],
                "learning_rate": truncexpon(b=5, loc=0.0003, scale=1.0 / 167.0),
            },
        )
    if name.startswith(("random_forest", "extra_trees")):
        criteria = ["gini", "entropy"] if name.endswith("classifier") else ["squared_error"]
        return (
            "n_estimators",
            100,
            1000,
            {
                "criterion": criteria,
                "max_features": truncexpon(b=10.0, loc=0.01, scale=1.0 / 10.11),
                "max_depth": [1, 2, 3, 4, 6, 10],
            },
        )
    if name.startswith("multilayer_perceptron"):
        return (
            "max_iter",
            5,
            50,
            {
                "alpha": uniform(1e-6, 1e-2),
                "hidden_layer_sizes": [
                    (16,), (32,), (64,), (64, 64), (128,), (128, 128), (256,), (256, 256),
                ],
                "learning_rate_init": [1e-2, 2e-2, 5e-2, 8e-2, 1e-3, 2e-3, 5e-3, 8e-3, 1e-4],
            },
        )  # fmt: skip
    raise CivisMLError(f"hyperband is not supported for model {name!r}")


def _halving(estimator: Any, name: str, classifier: bool, n_jobs: int | None) -> Any:
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV

    resource, low, high, space = _hyperband_space(name)
    prefix, _final = _final_step(estimator)
    return HalvingRandomSearchCV(
        estimator,
        {prefix + k: v for k, v in space.items()},
        resource=prefix + resource,
        min_resources=low,
        max_resources=high,
        factor=3,
        cv=FOLDS,
        scoring=_scoring(classifier),
        random_state=SEED,
        n_jobs=n_jobs,
    )


def _scoring(classifier: bool) -> str:
    return "neg_log_loss" if classifier else "r2"


def search(
    model: Any,
    name: str | None,
    cv_params: Any,
    classifier: bool,
    n_jobs: int | None,
) -> Any:
    """Wrap a model for hyperparameter search (``CVPARAMS``).

    Parameters
    ----------
    model : estimator
        The model (before the ETL).
    name : str or None
        Its predefined name (``None`` for a user's estimator).
    cv_params : dict or "hyperband"
        A grid of parameter lists, or hyperband (predefined models only).
    classifier : bool
    n_jobs : int or None

    Returns
    -------
    estimator
        ``model`` itself when there is nothing to search.
    """
    from sklearn.ensemble import StackingClassifier, StackingRegressor
    from sklearn.model_selection import GridSearchCV

    if not cv_params:
        return model
    if cv_params == "hyperband":
        if name is None:
            raise CivisMLError("hyperband is supported for predefined models only")
        if isinstance(model, (StackingClassifier, StackingRegressor)):
            tuned = [
                (step, _halving(est, step, classifier, n_jobs) if "forest" in step or
                 "boosting" in step else est)
                for step, est in model.estimators
            ]  # fmt: skip
            return model.set_params(estimators=tuned)
        return _halving(model, name, classifier, n_jobs)
    if not isinstance(cv_params, Mapping) or not all(
        isinstance(v, list) and v for v in cv_params.values()
    ):
        raise CivisMLError('CVPARAMS must be "hyperband" or a JSON object of non-empty lists')
    grid = {param_path(model, k): v for k, v in cv_params.items()}
    valid = model.get_params()
    for key, path in zip(cv_params, grid):
        if path not in valid:
            raise CivisMLError(f"CVPARAMS: the model has no parameter {key!r}")
    return GridSearchCV(model, grid, cv=FOLDS, scoring=_scoring(classifier), n_jobs=n_jobs)


def calibrate(model: Any, method: str | None, classifier: bool) -> Any:
    """Wrap a classifier to calibrate its probabilities (``CALIBRATION``)."""
    if not method:
        return model
    if method not in ("sigmoid", "isotonic"):
        raise CivisMLError(f"CALIBRATION must be sigmoid or isotonic, not {method!r}")
    if not classifier:
        raise CivisMLError("CALIBRATION applies to classification models only")
    from sklearn.calibration import CalibratedClassifierCV

    return CalibratedClassifierCV(model, method=method, cv=3)
