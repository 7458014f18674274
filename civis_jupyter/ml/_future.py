"""ModelFuture: a CivisML training or prediction run and its results.

The run is followed like any other container run (the shared poller of
:mod:`civis_jupyter.futures`). When it succeeds, the future reads the run's
``model_info.json`` (and, for training, ``metrics.json``) before it
resolves, so ``state``, ``metadata`` and ``metrics`` are there at once and a
model whose metadata reports an exception raises :class:`ModelError`. When
it fails, the error is the one line CivisML wrote in its metadata.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import warnings
from concurrent import futures as _cf
from typing import Any

from ..futures import SUCCEEDED, ContainerFuture

__all__ = ["ModelError", "ModelFuture"]

_log = logging.getLogger(__name__)

METADATA = "model_info.json"
METRICS = "metrics.json"
ESTIMATOR = "estimator.pkl"
PREDICTIONS = "predictions.csv"


class ModelError(RuntimeError):
    """A CivisML run that reported an exception.

    Parameters
    ----------
    msg : str
        What went wrong.
    estimator : object, optional
        The estimator, if the run left one.
    metadata : dict, optional
        The run's ``model_info.json``.
    """

    def __init__(self, msg: str, estimator: Any = None, metadata: Any = None):
        self.metadata = metadata
        self.estimator = estimator
        super().__init__(msg)


def _nested(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping


def _show_warnings(lines: list[str]) -> None:
    """Raise again the warnings a CivisML run recorded (``file:line: Category: text``)."""
    import builtins

    for line in lines:
        head, _, message = str(line).rstrip("\n").partition(" ")
        category_name, _, message = message.partition(" ")
        parts = head.split(":")
        category = getattr(builtins, category_name.rstrip(":"), None)
        if (
            len(parts) == 3
            and parts[1].isdigit()
            and isinstance(category, type)
            and issubclass(category, Warning)
        ):
            warnings.warn_explicit(message, category, parts[0], int(parts[1]))
        else:
            warnings.warn(f"Remote warning from CivisML:\n{line}", RuntimeWarning, stacklevel=3)


class ModelFuture(ContainerFuture):
    """A CivisML training or prediction run; its results are read when asked for.

    Reading ``metadata``, ``metrics``, ``table``, ``estimator`` and the other
    results waits for the run to end. A pickled ``ModelFuture`` keeps its
    ids (not its client): unpickled, it follows the same run with a client
    made from the environment.

    Parameters
    ----------
    job_id : int
        The CivisML custom script.
    run_id : int
        Its run.
    train_job_id, train_run_id : int, optional
        The training run a prediction run uses. Without them the run is a
        training run, and they equal ``job_id`` and ``run_id``.
    polling_interval : float, optional
        Poll every this many seconds instead of the adaptive schedule.
    client : APIClient, optional
    poll_on_creation : bool, optional
        Check the run's state right away.

    Attributes
    ----------
    is_training : bool
        Whether this is a training (or registration) run.
    train_job_id, train_run_id : int
        The training run this run's model comes from.
    """

    def __init__(
        self,
        job_id: int,
        run_id: int,
        train_job_id: int | None = None,
        train_run_id: int | None = None,
        polling_interval: float | None = None,
        client: Any = None,
        poll_on_creation: bool = True,
    ):
        if train_job_id and train_run_id:
            self.is_training = False
            self.train_job_id = int(train_job_id)
            self.train_run_id = int(train_run_id)
        else:
            self.is_training = True
            self.train_job_id = int(job_id)
            self.train_run_id = int(run_id)
        self._results_lock = threading.RLock()
        self._files: dict[tuple[int, int], dict[str, int]] = {}
        self._json: dict[int, Any] = {}
        self._civis_state = "queued"
        self._metadata: dict[str, Any] | None = None
        self._table: Any = None
        self._estimator: Any = None
        self._train_data: Any = None
        self._warned = False
        super().__init__(
            job_id,
            run_id,
            polling_interval=polling_interval,
            client=client,
            poll_on_creation=poll_on_creation,
        )

    def __repr__(self) -> str:
        return (
            f"<ModelFuture at {id(self):#x} state={self.state} job={self.job_id} run={self.run_id}>"
        )

    @property
    def run_id(self) -> int:
        """The run this future follows (a CivisML future always follows one)."""
        return self.poller_args[1]

    def __reduce__(self) -> tuple[Any, ...]:
        train = (None, None) if self.is_training else (self.train_job_id, self.train_run_id)
        return (type(self), (self.job_id, self.run_id, *train, self.polling_interval))

    def _ipython_display_(self) -> None:
        from ..jupyter.widgets.ml import show_model_future

        show_model_future(self)

    # -- state -----------------------------------------------------------------------
    @property
    def state(self) -> str:
        """The run's state; once it succeeded, the status its metadata reports.

        Never waits: before the metadata is read, a succeeded run reads
        ``"succeeded"``.
        """
        state = self._civis_state
        if state in SUCCEEDED and self._metadata is not None:
            return str(_nested(self._metadata, "run", "status") or state)
        return state

    @state.setter
    def state(self, value: str) -> None:
        self._civis_state = value

    # -- file names ----------------------------------------------------------------------
    @property
    def table_fname(self) -> str:
        """The name (a prefix: it may be gzipped) of the run's predictions file."""
        return PREDICTIONS

    @property
    def metadata_fname(self) -> str:
        """The name of the run's metadata file."""
        return METADATA

    @property
    def train_data_fname(self) -> str:
        """The name of the training data file, from the training metadata."""
        location = _nested(self.training_metadata, "run", "configuration", "data", "location")
        return os.path.basename(str(location or ""))

    # -- reading outputs -------------------------------------------------------------
    def _output_files(self, job_id: int, run_id: int) -> dict[str, int]:
        """File outputs of a run by name (read once the run ended)."""
        key = (int(job_id), int(run_id))
        with self._results_lock:
            if key in self._files:
                return self._files[key]
        listed = self.client.jobs.list_runs_outputs(*key)
        found: dict[str, int] = {}
        for output in listed:
            if output["object_type"] == "File":
                found.setdefault(str(output["name"]), int(output["object_id"]))
        with self._results_lock:
            self._files[key] = found
        return found

    def _file_id(self, name: str, job_id: int, run_id: int, prefix: bool = False) -> int:
        files = self._output_files(job_id, run_id)
        for found, file_id in files.items():
            if found == name or (prefix and found.startswith(name)):
                return file_id
        raise FileNotFoundError(f"Job {job_id} run {run_id} has no output file {name!r}.")

    def _read_json(self, name: str, job_id: int, run_id: int) -> Any:
        from ..io.files import file_to_json

        file_id = self._file_id(name, job_id, run_id)
        with self._results_lock:
            if file_id in self._json:
                return self._json[file_id]
        value = file_to_json(file_id, client=self.client)
        with self._results_lock:
            self._json[file_id] = value
        return value

    def _fetch_metadata(self) -> dict[str, Any]:
        """This run's ``model_info.json`` (without waiting for the run)."""
        if self._metadata is None:
            meta = self._read_json(METADATA, self.job_id, self.run_id)
            with self._results_lock:
                self._metadata = meta
        return self._metadata

    def _fetch_validation(self, missing_ok: bool = True) -> dict[str, Any] | None:
        try:
            return self._read_json(METRICS, self.train_job_id, self.train_run_id)
        except FileNotFoundError:
            if missing_ok:
                return None
            raise

    def _wait_for_end(self) -> None:
        """Wait until the run ended (without raising its failure)."""
        while not self.done():
            _cf.wait([self], timeout=0.2)

    def _or_run_failure(self, read: Any) -> Any:
        """Wait for the run, then read; a missing file raises the run's own failure."""
        self._wait_for_end()
        try:
            return read()
        except FileNotFoundError:
            failure = None if self.cancelled() else _cf.Future.exception(self, 0)
            if failure is not None:
                raise failure from None
            raise

    # -- completion -------------------------------------------------------------------
    def _finish(self, response: Any) -> Any:
        """Read the metadata of a succeeded run; raise ModelError if it reports one."""
        try:
            meta = self._fetch_metadata()
            if self.is_training and _nested(meta, "run", "status") == "succeeded":
                meta = self._fetch_validation() or meta
        except FileNotFoundError:
            return response  # no metadata (not a CivisML run?): results raise when read
        except Exception:  # read again when asked for; the run itself succeeded
            _log.debug("could not read the metadata of %r", self, exc_info=True)
            return response
        self._raise_reported(meta)
        return response

    def _raise_reported(self, meta: Any) -> None:
        if _nested(meta, "run", "status") != "exception":
            return
        trace = _nested(meta, "run", "stack_trace") or "CivisML reported an exception."
        estimator = None
        if ESTIMATOR in self._output_files(self.train_job_id, self.train_run_id):
            try:
                estimator = self._load_estimator()
            except Exception:  # the error is what matters; the estimator is extra
                estimator = None
        raise ModelError(str(trace), estimator, meta)

    def _failure(self, response: Any) -> BaseException:
        try:
            meta = self._fetch_metadata()
        except Exception:  # no metadata: the run's own error explains it
            return super()._failure(response)
        if _nested(meta, "run", "status") == "exception":
            trace = _nested(meta, "run", "stack_trace") or "CivisML reported an exception."
            return ModelError(str(trace), None, meta)
        return super()._failure(response)

    # -- results ---------------------------------------------------------------------
    @property
    def metadata(self) -> dict[str, Any]:
        """This run's ``model_info.json`` (waits for the run).

        The first read raises again, as warnings here, the warnings the run recorded.
        """
        meta = self._or_run_failure(self._fetch_metadata)
        with self._results_lock:
            shown, self._warned = self._warned, True
        if not shown:
            _show_warnings(meta.get("warnings") or [])
        return meta

    @property
    def training_metadata(self) -> dict[str, Any]:
        """The training run's ``model_info.json`` (the same as ``metadata`` for training)."""
        if self.is_training:
            return self.metadata
        return self._or_run_failure(
            lambda: self._read_json(METADATA, self.train_job_id, self.train_run_id)
        )

    @property
    def validation_metadata(self) -> dict[str, Any] | None:
        """The training run's ``metrics.json``; ``None`` if validation was skipped.

        Raises the run's failure if a training run failed before writing it.
        """
        try:
            return self._or_run_failure(lambda: self._fetch_validation(missing_ok=False))
        except FileNotFoundError:
            return None

    @property
    def metrics(self) -> dict[str, Any] | None:
        """Out-of-sample metrics of the training run (``None`` without validation)."""
        validation = self.validation_metadata
        return validation["metrics"] if validation else None

    @property
    def estimator(self) -> Any:
        """The fitted scikit-learn ``Pipeline`` of the training run."""
        return self._or_run_failure(self._load_estimator)

    def _load_estimator(self) -> Any:
        if self._estimator is None:
            import joblib

            from ..io.files import civis_to_file

            file_id = self._file_id(ESTIMATOR, self.train_job_id, self.train_run_id)
            buf = io.BytesIO()
            civis_to_file(file_id, buf, client=self.client)
            buf.seek(0)
            self._estimator = joblib.load(buf)
        return self._estimator

    def _primary_key(self) -> str | None:
        meta = self.metadata
        jobs = meta.get("jobs") or []
        if not self.is_training and jobs:
            key = _nested(jobs[0], "run", "configuration", "data", "primary_key")
        else:
            key = _nested(meta, "run", "configuration", "data", "primary_key")
        return key or None

    @property
    def table(self) -> Any:
        """The run's scores as a DataFrame, indexed by the primary key if there is one.

        Out-of-sample scores of the training rows for a training run (``None``
        if validation was skipped); the predictions for a prediction run, all
        of its output files together.
        """
        self.result()
        if self._table is None:
            self._table = self._read_table()
        return self._table

    def _read_table(self) -> Any:
        from ..io.files import file_to_dataframe

        index_col: Any = 0 if self._primary_key() is not None else False
        if self.is_training:
            try:
                file_id = self._file_id(PREDICTIONS, self.job_id, self.run_id, prefix=True)
            except FileNotFoundError:
                return None
            return file_to_dataframe(file_id, client=self.client, index_col=index_col)
        import pandas as pd

        ids = self.metadata.get("output_file_ids") or []
        parts = [file_to_dataframe(i, client=self.client, index_col=index_col) for i in ids]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else pd.concat(parts)

    @property
    def train_data(self) -> Any:
        """The training data, if the training run stored it as an output."""
        if self._train_data is None:
            from ..io.files import file_to_dataframe

            name = self.train_data_fname
            try:
                file_id = self._file_id(name, self.train_job_id, self.train_run_id)
            except FileNotFoundError:
                raise ValueError("There is no training data stored for this job!") from None
            self._train_data = file_to_dataframe(file_id, client=self.client)
        return self._train_data
