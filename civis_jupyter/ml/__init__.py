"""Machine learning with CivisML: train and score scikit-learn models on Civis Platform.

The same names and signatures as the official client's ``civis.ml``, built on
:class:`civis_jupyter.futures.CivisFuture` (one shared poller, a cancel that
works) and :mod:`civis_jupyter.io`. It works against Civis Platform and the
embedded platform alike. A :class:`ModelFuture` shown in a notebook is a live
card that ends with the model's metrics and plots.

Needs the ``ml`` extra (``pip install 'civis-jupyter[ml]'``).

Examples
--------
>>> from civis_jupyter.ml import ModelPipeline
>>> model = ModelPipeline("random_forest_classifier", "churned", primary_key="customer_id")
>>> train = model.train(table_name="demo.customers", database_name="local")
>>> train.metrics["roc_auc"]
"""

from __future__ import annotations

import importlib.util

_NEEDED = {"sklearn": "scikit-learn", "joblib": "joblib", "cloudpickle": "cloudpickle"}
_missing = [module for module in _NEEDED if importlib.util.find_spec(module) is None]
if _missing:
    raise ModuleNotFoundError(
        f"civis_jupyter.ml needs {', '.join(_NEEDED[m] for m in _missing)}: "
        "pip install 'civis-jupyter[ml]'",
        name=_missing[0],
    )

from ._future import ModelError, ModelFuture  # noqa: E402
from ._helper import (  # noqa: E402
    delete_models_shares_groups,
    delete_models_shares_users,
    list_models,
    put_models_shares_groups,
    put_models_shares_users,
)
from ._models import CLASSIFIERS, PREDEFINED_MODELS, REGRESSORS  # noqa: E402
from ._pipeline import ModelPipeline  # noqa: E402

__all__ = [
    "CLASSIFIERS",
    "PREDEFINED_MODELS",
    "REGRESSORS",
    "ModelError",
    "ModelFuture",
    "ModelPipeline",
    "delete_models_shares_groups",
    "delete_models_shares_users",
    "list_models",
    "put_models_shares_groups",
    "put_models_shares_users",
]
