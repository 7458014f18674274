"""CivisML on the embedded platform: overhead of training, speed and memory of prediction.

Measures, on one machine, with a training table and a scoring table made in
the warehouse with SQL (numeric and text features, a label with signal):

1. Training three models at once through the platform (``civis_jupyter.ml``:
   three CivisML runs started together, until all three have succeeded) against
   the same work done directly in one process: for each model, reading the
   rows, the same 4-fold cross-validation with the same folds, the metrics,
   and the final fit on every row, with the very estimators the platform
   builds. Reported: both wall times and their ratio (goal: at most 1.5).
2. Prediction through the platform: scoring ``--predict-rows`` rows (1M by
   default) with the first model, from a table to ``predictions.csv.gz``:
   rows per second (from ``predict()`` to the end of the run) and the peak
   resident memory of the prediction run's process (sampled from
   ``/proc``; Linux only), beside the memory the scoring table's features
   would take if held at once.

Run: ``python benchmarks/bench_ml.py [--rows 100000] [--predict-rows 1000000]
[--models sparse_logistic random_forest_classifier extra_trees_classifier]
[--trees 30]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import as_completed
from pathlib import Path
from typing import Any

import civis_jupyter as civis
from civis_jupyter.platform import LocalPlatform

DATABASE = "bench"
FOLDS_SEED = 42

_FEATURES = """
  (18 + floor(u1 * 60))::INTEGER AS age,
  round(10 + u2 * 90, 2) AS spend,
  (1 + floor(u3 * 72))::INTEGER AS tenure,
  floor(pow(u4, 3) * 9)::INTEGER AS calls,
  (['basic', 'standard', 'premium'])[1 + floor(u5 * 3)::INTEGER] AS plan,
  (['north', 'south', 'east', 'west'])[1 + floor(u6 * 4)::INTEGER] AS region
"""


def _uniforms(rows: int, salt: int) -> str:
    columns = ", ".join(
        f"(hash(i * 7919 + {salt * 10 + k}) % 1000003) / 1000003.0 AS u{k}" for k in range(1, 8)
    )
    return f"SELECT i, {columns} FROM range(1, {rows + 1}) r(i)"


def make_tables(warehouse: Any, rows: int, predict_rows: int) -> None:
    """``bench.train`` (``rows`` labelled rows) and ``bench.score`` (``predict_rows`` rows)."""
    warehouse.execute(
        f"""
CREATE SCHEMA bench;
CREATE TABLE bench.train AS
WITH u AS ({_uniforms(rows, 1)}), f AS (SELECT i AS id, u7, {_FEATURES} FROM u)
SELECT id, age, spend, tenure, calls, plan, region,
  (u7 < 1 / (1 + exp(-(-1.0 + 0.4 * calls - 0.04 * tenure + 0.02 * (spend - 55)
     + CASE plan WHEN 'basic' THEN 0.7 ELSE 0 END))))::INTEGER AS churned
FROM f;
CREATE TABLE bench.score AS
WITH u AS ({_uniforms(predict_rows, 2)})
SELECT i AS id, {_FEATURES} FROM u;
"""
    )


# -- training -----------------------------------------------------------------------------------


def _parameters(model: str, trees: int) -> dict[str, Any]:
    return {"n_estimators": trees} if "forest" in model or "trees" in model else {}


def train_on_platform(
    client: Any, models: Sequence[str], trees: int
) -> tuple[float, dict[str, Any]]:
    """Train the models at once through the platform.

    Returns
    -------
    tuple
        Wall seconds until every run succeeded, and the futures by model.
    """
    from civis_jupyter.ml import ModelPipeline

    started = time.perf_counter()
    futures = {}
    for model in models:
        pipeline = ModelPipeline(
            model, "churned", primary_key="id", parameters=_parameters(model, trees), client=client
        )
        futures[model] = pipeline.train(table_name="bench.train", database_name=DATABASE)
    for future in as_completed(futures.values()):
        future.result()
    return time.perf_counter() - started, futures


def train_directly(warehouse: Any, models: Sequence[str], trees: int) -> tuple[float, dict]:
    """The same work in this process: read, cross-validate, score, refit, for each model.

    Returns
    -------
    tuple
        Wall seconds, and the out-of-sample ROC AUC by model.
    """
    import numpy as np
    import pandas as pd
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import Pipeline

    from civis_jupyter.platform.civisml.data import build_etl, coerce, feature_columns
    from civis_jupyter.platform.civisml.metrics import classification_metrics
    from civis_jupyter.platform.civisml.models import FOLDS, apply_parameters, build_model

    started = time.perf_counter()
    aucs = {}
    for model in models:
        result = warehouse.execute("SELECT * FROM bench.train")
        frame = pd.DataFrame(result.rows, columns=[c.name for c in result.columns])
        y = frame["churned"].to_numpy()
        numeric, categorical = feature_columns(frame, ["id", "churned"])
        features = coerce(frame, numeric, categorical)
        estimator, _ = build_model(model)
        apply_parameters(estimator, _parameters(model, trees))
        pipeline = Pipeline([("etl", build_etl(numeric, categorical)), ("model", estimator)])
        folds = StratifiedKFold(FOLDS, shuffle=True, random_state=FOLDS_SEED)
        proba = cross_val_predict(pipeline, features, y, cv=folds, method="predict_proba")
        aucs[model] = classification_metrics(y, proba, list(np.unique(y)))["roc_auc"]
        pipeline.fit(features, y)
    return time.perf_counter() - started, aucs


# -- prediction -----------------------------------------------------------------------------------


def _worker_pids(action: str) -> Iterator[int]:
    needle = f"civis_jupyter.platform.civisml\x00{action}".encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline or needle.replace(b"\x00", b" ") in cmdline:
            yield int(entry.name)


def _peak_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


@contextlib.contextmanager
def peak_memory(action: str, every: float = 0.05) -> Iterator[dict[str, int]]:
    """Sample the peak RSS (``VmHWM``) of CivisML worker processes of one action.

    Yields
    ------
    dict
        ``{"kib": peak}``, filled in while the block runs.
    """
    seen = {"kib": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for pid in _worker_pids(action):
                seen["kib"] = max(seen["kib"], _peak_kib(pid))
            stop.wait(every)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()


def predict_on_platform(model_future: Any, rows: int) -> tuple[float, int]:
    """Score ``bench.score`` with a trained model through the platform.

    Returns
    -------
    tuple
        Rows per second and the prediction process's peak memory in MiB.
    """
    from civis_jupyter.ml import ModelPipeline

    pipeline = ModelPipeline.from_existing(model_future.job_id, model_future.run_id)
    with peak_memory("predict") as peak:
        started = time.perf_counter()
        scored = pipeline.predict(table_name="bench.score", database_name=DATABASE)
        scored.result()
        elapsed = time.perf_counter() - started
    n_rows = scored.metadata["data"]["n_rows"]
    assert n_rows == rows, (n_rows, rows)
    return rows / elapsed, peak["kib"] // 1024


def features_mib(warehouse: Any, rows: int) -> float:
    """MiB the scoring table's feature columns take as one DataFrame (from a sample)."""
    import pandas as pd

    sample = min(rows, 50_000)
    result = warehouse.execute(f"SELECT * FROM bench.score LIMIT {sample}")
    frame = pd.DataFrame(result.rows, columns=[c.name for c in result.columns])
    return frame.memory_usage(deep=True).sum() * rows / sample / 2**20


def main() -> None:
    """Run the benchmarks and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="training rows")
    parser.add_argument("--predict-rows", type=int, default=1_000_000, help="rows to score")
    parser.add_argument(
        "--models",
        nargs="+",
        default=["sparse_logistic", "random_forest_classifier", "extra_trees_classifier"],
    )
    parser.add_argument("--trees", type=int, default=30, help="trees of the forest models")
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # unsandboxed machines say so
        platform = LocalPlatform(databases=[DATABASE], rate_limit=10**9).start()
    try:
        warehouse = platform.warehouses.get(platform.default_database_id)
        made = time.perf_counter()
        make_tables(warehouse, args.rows, args.predict_rows)
        print(
            f"tables: {args.rows:,} training rows, {args.predict_rows:,} to score "
            f"({time.perf_counter() - made:.1f}s)"
        )
        os.environ["CIVIS_API_ENDPOINT"] = platform.endpoint
        os.environ["CIVIS_API_KEY"] = platform.api_key
        client = civis.APIClient()
        direct, aucs = train_directly(warehouse, args.models, args.trees)
        through, futures = train_on_platform(client, args.models, args.trees)
        print(
            f"\ntraining {len(args.models)} models on {args.rows:,} rows "
            f"(4-fold cross-validation + final fit each)"
        )
        for model, future in futures.items():
            run = future.metadata["run"]
            print(
                f"  {model:34s} ROC AUC platform {future.metrics['roc_auc']:.4f} "
                f"direct {aucs[model]:.4f}   run {run['elapsed_seconds']:.1f}s"
            )
        print(f"  directly, one process (sequential): {direct:7.1f}s")
        print(f"  through the platform (3 runs at once): {through:7.1f}s")
        print(f"  overhead ratio platform / direct: {through / direct:.2f}x (goal <= 1.5x)")
        first = futures[args.models[0]]
        rate, peak_mib = predict_on_platform(first, args.predict_rows)
        print(f"\nprediction of {args.predict_rows:,} rows with {args.models[0]} (platform)")
        print(f"  throughput: {rate:,.0f} rows/s")
        whole = features_mib(warehouse, args.predict_rows)
        print(
            f"  peak memory of the prediction run: {peak_mib:,} MiB "
            f"(the features alone, held at once: {whole:,.0f} MiB)"
        )
    finally:
        platform.stop()


if __name__ == "__main__":
    main()
