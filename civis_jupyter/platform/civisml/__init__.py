"""CivisML on the embedded platform: training, prediction and registration runs.

Every platform offers CivisML's three script templates (see
:mod:`.templates`), found through ``/aliases`` as on Civis Platform, so the
official ``civis.ml.ModelPipeline`` and ``civis_jupyter.ml`` work offline.
A custom script made from a template runs the worker (:mod:`.worker`) as an
ordinary platform run: live logs, cancel, states and the run sandbox all
apply. The worker reaches the platform only through the API, with the run's
own key, and leaves its results as run outputs:

- training: ``estimator.pkl`` (the fitted scikit-learn ``Pipeline``, ETL
  included, a gzipped cloudpickle that ``joblib.load`` reads, so classes
  defined in a notebook travel by value), ``metrics.json`` (``{"metrics": ...,
  "run": ..., "data": ...}``, shapes in :mod:`.metrics`),
  ``predictions.csv.gz`` (out-of-sample scores, the primary key first) and
  ``model_info.json`` (``run`` with ``status`` and ``configuration``,
  ``data`` with ``target_columns``, ``class_names`` and the feature columns,
  ``model`` with coefficients or feature importances, ``output_file_ids``
  and ``warnings``);
- prediction: ``predictions.csv.gz`` and ``model_info.json`` (with ``jobs``
  and ``output_file_ids``), and a table when ``OUTPUT_TABLE`` is given;
- registration: ``estimator.pkl`` and ``model_info.json``.

Data are read from a table with SQL or from a Civis file (CSV, gzipped CSV
or feather). Training holds its data in memory; prediction reads and scores
:data:`.worker.BATCH_ROWS` rows at a time, so a large input never has more
than one batch of features in memory.

Where this differs from CivisML on Civis Platform (scikit-learn only; the
packages CivisML relied on do not install today):

- Cross-validation uses 4 folds (stratified for one classification target),
  shuffled with ``random_state=42``; metrics are computed on the pooled
  out-of-sample predictions.
- ``sparse_logistic``, ``sparse_linear_regressor`` and
  ``sparse_ridge_regressor`` select features with an L1 model chosen by
  cross-validation (``LogisticRegressionCV`` with the saga solver, or
  ``LassoCV``, after scaling by the largest absolute value) instead of
  ``glmnet``; their coefficients refer to the scaled features.
- The multilayer perceptrons are scikit-learn's ``MLPClassifier`` and
  ``MLPRegressor`` (one hidden layer of 256 units, early stopping) instead of
  ``muffnn`` on TensorFlow; they have no dropout (hyperband tunes ``alpha``,
  an L2 penalty, where CivisML tuned ``keep_prob``).
- The stacking models are scikit-learn's ``StackingClassifier`` (gradient
  boosting, random forest and an L2 logistic regression, combined by a
  normalizer and ``LogisticRegressionCV``) and ``StackingRegressor`` (with
  ``RidgeCV``, combined by a non-negative ``LinearRegression``) instead of
  ``civismlext``'s stackers.
- ``CVPARAMS="hyperband"`` runs ``HalvingRandomSearchCV`` (successive
  halving over the same resource and distributions as CivisML's hyperband)
  instead of ``civismlext.HyperbandSearchCV``; a grid runs ``GridSearchCV``.
  Both score with log loss (classifiers) or R² (regressors).
- The default ETL is scikit-learn's ``ColumnTransformer``: numbers are
  mean-imputed, text is one-hot encoded with missing values as their own
  level and at most 200 levels per column (rarer levels share a column),
  instead of ``civismlext.DataFrameETL``.
- Several targets are fitted with ``MultiOutputClassifier`` /
  ``MultiOutputRegressor``.
- Prediction runs score in one process (``N_JOBS`` is passed to
  scikit-learn, not used to split the input over several runs) and write one
  ``predictions.csv.gz``.
- Resource requests (``REQUIRED_CPU``, ``MEMORY``, ...) are recorded, not
  enforced; ``DEPENDENCIES`` are pip-installed into the run's directory;
  ``GIT_CRED`` is ignored with a warning (private repositories cannot be
  installed).
"""

from __future__ import annotations

__all__ = ["CIVISML_VERSION", "CLASSIFIERS", "REGRESSORS"]

from .models import CLASSIFIERS, REGRESSORS
from .worker import CIVISML_VERSION
