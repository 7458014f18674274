"""Score columns: how a model's outputs become rows of ``predictions.csv.gz``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Layout:
    """How a model's outputs become score columns.

    Attributes
    ----------
    targets : list of str
    classifier : bool
    class_names : list of list
        Per target, its classes (classifiers only).
    """

    targets: list[str]
    classifier: bool
    class_names: list[list[Any]]

    def picked(self, target: int) -> list[int]:
        """Columns of a target's probabilities kept: the positive one of two, else all."""
        n = len(self.class_names[target])
        return [n - 1] if n == 2 else list(range(n))

    def groups(self) -> list[list[str]]:
        """Names of the score columns, target by target."""
        if not self.classifier:
            return [[target] for target in self.targets]
        return [
            [f"{target}_{self.class_names[t][i]}" for i in self.picked(t)]
            for t, target in enumerate(self.targets)
        ]

    def columns(self, wanted: Sequence[str] = ()) -> list[str]:
        """Names of the score columns (of the ``wanted`` targets only, if given)."""
        return [
            name
            for target, group in zip(self.targets, self.groups())
            if not wanted or target in wanted
            for name in group
        ]

    def matrix(self, outputs: Any) -> Any:
        """Score columns from ``predict_proba`` (classifiers) or ``predict`` outputs."""
        import numpy as np

        if not self.classifier:
            values = np.asarray(outputs, dtype=float)
            return values.reshape(len(values), -1)
        per_target = outputs if isinstance(outputs, list) else [outputs]
        blocks = [np.asarray(p, dtype=float)[:, self.picked(t)] for t, p in enumerate(per_target)]
        return np.hstack(blocks)

    def scores(self, estimator: Any, features: Any) -> Any:
        """A DataFrame of score columns for some rows."""
        import pandas as pd

        outputs = (
            estimator.predict_proba(features) if self.classifier else estimator.predict(features)
        )
        return pd.DataFrame(self.matrix(outputs), columns=self.columns(), index=features.index)


def _score_frame(pk: str | None, keys: Any, scores: Any) -> Any:
    if pk is None:
        return scores.reset_index(drop=True)
    out = scores.reset_index(drop=True)
    out.insert(0, pk, list(keys))
    return out


def _write_predictions(frame: Any, path: Path, header: bool, mode: str = "wt") -> None:
    import gzip

    with gzip.open(path, mode, encoding="utf-8", newline="") as f:
        frame.to_csv(f, index=False, header=header)
