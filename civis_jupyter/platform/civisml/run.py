"""The run a CivisML worker serves: its arguments, files and outputs."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CivisMLError

#: The CivisML version this worker answers for.
CIVISML_VERSION = "v2.3-local"


def log(message: str) -> None:
    """A progress line in the run's log."""
    print(message, flush=True)


@dataclass
class Run:
    """The run the worker serves: its client, ids, arguments and results."""

    client: Any
    job_id: int
    run_id: int
    env: dict[str, str]
    work: Path
    warnings: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    @classmethod
    def from_env(cls) -> Run:
        """The run of this process, from the variables the platform sets."""
        from ...api.client import APIClient

        env = dict(os.environ)
        try:
            job_id, run_id = int(env["CIVIS_JOB_ID"]), int(env["CIVIS_RUN_ID"])
        except (KeyError, ValueError):
            raise CivisMLError("CIVIS_JOB_ID and CIVIS_RUN_ID must name this run") from None
        return cls(APIClient(), job_id, run_id, env, Path.cwd())

    def arg(self, name: str) -> str | None:
        """An argument's text, ``None`` when unset or blank."""
        value = self.env.get(name)
        return value.strip() if value is not None and value.strip() else None

    def json_arg(self, name: str, default: Any) -> Any:
        """A JSON argument (a one-line error when it is not JSON)."""
        text = self.arg(name)
        if text is None:
            return default
        try:
            return json.loads(text)
        except ValueError:
            if name == "CVPARAMS" and text == "hyperband":
                return text
            raise CivisMLError(f"{name} is not valid JSON: {text[:80]!r}") from None

    def int_arg(self, name: str) -> int | None:
        """An integer argument."""
        text = self.arg(name)
        if text is None:
            return None
        try:
            return int(float(text))
        except ValueError:
            raise CivisMLError(f"{name} must be an integer, not {text!r}") from None

    def upload(self, path: Path, name: str) -> int:
        """Upload a file of the run's directory as a (non-expiring) Civis file."""
        from ...io import file_to_civis

        return int(file_to_civis(path, name, expires_at=None, client=self.client))

    def attach(self, file_ids: Sequence[int]) -> None:
        """Make files outputs of this run, in order."""
        for file_id in file_ids:
            self.client.scripts.post_containers_runs_outputs(
                self.job_id, self.run_id, object_type="File", object_id=int(file_id)
            )

    def write_json(self, obj: Any, name: str) -> Path:
        """Write a JSON file into the run's directory."""
        path = self.work / name
        path.write_text(json.dumps(obj, default=_json_default, indent=1), encoding="utf-8")
        return path

    def fail(self, message: str) -> None:
        """Attach the failure's ``model_info.json`` (best effort)."""
        info = {
            "run": {
                "status": "exception",
                "stack_trace": message,
                "job_id": self.job_id,
                "run_id": self.run_id,
                "civisml_version": CIVISML_VERSION,
            },
            "warnings": self.warnings,
        }
        try:
            path = self.write_json(info, "model_info.json")
            self.attach([self.upload(path, "model_info.json")])
        except Exception as exc:  # the run fails anyway; say why the metadata is missing
            log(f"could not attach model_info.json: {type(exc).__name__}: {exc}")


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.bool_):
        return bool(value)
    return str(value)


def _words(text: str | None) -> list[str]:
    return text.split() if text else []
