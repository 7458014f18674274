"""A training run's arguments, and the check that the columns they name exist."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import CivisMLError
from .run import Run, _words


@dataclass
class Training:
    """What a training run was asked to do."""

    model: str
    targets: list[str]
    primary_key: str | None
    excluded: list[str]
    params: dict[str, Any]
    cv_params: Any
    calibration: str | None
    fit_params: dict[str, str]
    validate: bool
    n_jobs: int | None
    etl_file: int | None

    @classmethod
    def from_run(cls, run: Run) -> Training:
        model = run.arg("MODEL") or run.arg("WORKFLOW")
        if model is None:
            raise CivisMLError("MODEL is required: a predefined model name or an estimator file")
        targets = _words(run.arg("TARGET_COLUMN"))
        if not targets:
            raise CivisMLError("TARGET_COLUMN is required")
        params = run.json_arg("PARAMS", {}) or {}
        fit_params = run.json_arg("FIT_PARAMS", {}) or {}
        if not isinstance(params, dict) or not isinstance(fit_params, dict):
            raise CivisMLError("PARAMS and FIT_PARAMS must be JSON objects")
        validation = (run.arg("VALIDATION_DATA") or "train").lower()
        if validation not in ("train", "skip"):
            raise CivisMLError(f"VALIDATION_DATA must be train or skip, not {validation!r}")
        return cls(
            model=model,
            targets=targets,
            primary_key=run.arg("PRIMARY_KEY"),
            excluded=_words(run.arg("EXCLUDE_COLS")),
            params=params,
            cv_params=run.json_arg("CVPARAMS", {}) or {},
            calibration=run.arg("CALIBRATION"),
            fit_params={str(k): str(v) for k, v in fit_params.items()},
            validate=validation == "train",
            n_jobs=run.int_arg("N_JOBS"),
            etl_file=run.int_arg("ETL"),
        )

    def named_columns(self) -> dict[str, list[str]]:
        """Columns the arguments name, by the argument naming them."""
        return {
            "TARGET_COLUMN": self.targets,
            "PRIMARY_KEY": [self.primary_key] if self.primary_key else [],
            "EXCLUDE_COLS": self.excluded,
            "FIT_PARAMS": list(self.fit_params.values()),
        }


def _check_columns(named: dict[str, list[str]], available: Sequence[str], where: str) -> None:
    have = set(available)
    for argument, columns in named.items():
        for column in columns:
            if column not in have:
                raise CivisMLError(f"column {column!r} ({argument}) not found in {where}")
