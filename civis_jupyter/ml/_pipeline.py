"""ModelPipeline: train and score scikit-learn models with CivisML.

A pipeline describes a model (a predefined CivisML model or an estimator of
your own), its target and its options. :meth:`ModelPipeline.train` and
:meth:`ModelPipeline.predict` each start a CivisML custom script made from
the CivisML templates and return a :class:`ModelFuture` at once; nothing
here waits, so several models can train side by side.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Sequence
from typing import Any

from ..api.errors import CivisAPIError
from ..api.response import find, find_one
from ._future import ModelFuture
from ._templates import (
    V2_2_PREDICTION,
    V2_PREDICTION,
    V2_TRAINING,
    template_ids,
    template_ids_all_versions,
)

__all__ = ["SENTINEL", "ModelPipeline"]


class _Sentinel(tuple):
    """The default that means "not given" (``primary_key`` of :meth:`ModelPipeline.predict`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Sentinel()"


SENTINEL = _Sentinel()
_DATA_NAME = "modelpipeline_data"


def _client_or_default(client: Any) -> Any:
    if client is not None:
        return client
    from ..api.client import APIClient

    return APIClient()


def _words(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _is_estimator(model: Any) -> bool:
    """Whether ``model`` is an estimator object (not a name or a file id)."""
    return not isinstance(model, (str, int, float)) and hasattr(model, "fit")


def _pickle_bytes(obj: Any) -> bytes:
    """An object pickled with cloudpickle (so classes defined in a notebook travel), gzipped."""
    import cloudpickle

    return gzip.compress(cloudpickle.dumps(obj), compresslevel=3)


def _upload_pickle(obj: Any, name: str, client: Any, expires_at: Any = "DEFAULT") -> int:
    from ..io.files import file_to_civis

    return int(file_to_civis(io.BytesIO(_pickle_bytes(obj)), name, expires_at, client=client))


def _stash_dataframe(df: Any, template_id: int, client: Any) -> int:
    """Upload a DataFrame for a CivisML run (feather, or CSV for old templates)."""
    from ..io.files import file_to_civis

    if getattr(getattr(df, "index", None), "levels", None) is not None:
        raise TypeError(
            "CivisML does not support multi-indexed data frames: call .reset_index() first."
        )
    if template_id >= V2_PREDICTION:
        buf = io.BytesIO()
        df.reset_index(drop=True).to_feather(buf)
        name = f"{_DATA_NAME}.feather"
    else:
        buf = io.BytesIO(df.to_csv(index=False).encode("utf-8"))
        name = f"{_DATA_NAME}.csv"
    buf.seek(0)
    return int(file_to_civis(buf, name, client=client))


def _stash_csv(csv_path: str, client: Any) -> int:
    from ..io.files import file_to_civis

    return int(file_to_civis(csv_path, f"{_DATA_NAME}.csv", client=client))


def _check_one_source(sources: Sequence[bool]) -> None:
    if not any(sources):
        raise ValueError("Provide a source of data.")
    if sum(sources) > 1:
        raise ValueError("Provide a single source of data.")


def _snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()


def _decode_run(train_job_id: int, train_run_id: Any, client: Any) -> int:
    """A training run id from an id, ``"latest"`` or ``"active"``."""
    try:
        return int(train_run_id)
    except (TypeError, ValueError):
        pass
    if train_run_id not in ("latest", "active"):
        raise ValueError(
            "Please provide valid train_run_id! Needs to be integer corresponding to a training "
            'run ID or one of "active" or "latest".'
        )
    container = client.scripts.get_containers(int(train_job_id))
    if train_run_id == "latest":
        last = container["last_run"]
        if not last:
            raise ValueError(f"Job {train_job_id} has never run.")
        return int(last["id"])
    active = (container["arguments"] or {}).get("ACTIVE_BUILD")
    if active is None:
        param = find_one(container["params"] or [], name="ACTIVE_BUILD")
        active = param["default"] if param is not None else None
    if active is None:
        raise ValueError(f"Job {train_job_id} has no active build.")
    return int(active)


class ModelPipeline:
    """A scikit-learn model trained and scored by CivisML on Civis Platform.

    Parameters
    ----------
    model : str or estimator
        A predefined model's name (see :data:`civis_jupyter.ml.PREDEFINED_MODELS`,
        e.g. ``"sparse_logistic"``), a scikit-learn estimator of your own, or
        the id of a Civis file holding a pickled one.
    dependent_variable : str or list of str
        The target column, or several for a multi-target model.
    primary_key : str, optional
        The column that identifies rows; scores are indexed by it.
    parameters : dict, optional
        Parameters of a predefined model's final estimator, e.g. ``{"C": 2}``.
    cross_validation_parameters : dict or str, optional
        A parameter grid to search, or ``"hyperband"``.
    model_name : str, optional
        Prefix of the scripts' names (" Train" or " Predict" is added).
    calibration : {None, "sigmoid", "isotonic"}
        Calibrate a classifier's probabilities.
    excluded_columns : list of str, optional
        Columns that are not features.
    client : APIClient, optional
    cpu_requested, memory_requested, disk_requested : optional
        Resources of training runs (CPU shares, MiB, GB).
    notifications : dict, optional
        As for ``scripts.post_custom``.
    dependencies : list of str, optional
        Packages to pip-install for the runs.
    git_token_name : str, optional
        Name of a custom credential holding a git token (private repositories).
    verbose : bool, optional
        More detail in the runs' logs.
    etl : estimator, optional
        A transformer that replaces CivisML's default preprocessing.
    civisml_version : str, optional
        For example ``"v2.2"``; the production version by default.

    Attributes
    ----------
    train_result_ : ModelFuture or None
        The latest training run.
    train_template_id, predict_template_id : int
        The templates the runs are made from.

    Examples
    --------
    >>> model = ModelPipeline("sparse_logistic", "churned", primary_key="customer_id")
    >>> train = model.train(table_name="demo.customers", database_name="local")
    >>> train.metrics["roc_auc"]  # waits for the run
    0.84
    >>> scores = model.predict(table_name="demo.customers", database_name="local").table
    """

    def __init__(
        self,
        model: Any,
        dependent_variable: str | list[str],
        primary_key: str | None = None,
        parameters: dict[str, Any] | None = None,
        cross_validation_parameters: dict[str, Any] | str | None = None,
        model_name: str | None = None,
        calibration: str | None = None,
        excluded_columns: list[str] | None = None,
        client: Any = None,
        cpu_requested: int | None = None,
        memory_requested: int | None = None,
        disk_requested: float | None = None,
        notifications: dict[str, Any] | None = None,
        dependencies: list[str] | None = None,
        git_token_name: str | None = None,
        verbose: bool = False,
        etl: Any = None,
        civisml_version: str | None = None,
    ):
        self.model = model
        self._input_model = model
        self.dependent_variable = _words(dependent_variable)
        self.primary_key = primary_key
        self.parameters = parameters or {}
        self.cv_params = cross_validation_parameters or {}
        self.model_name = model_name
        self.excluded_columns = excluded_columns
        self.calibration = calibration
        self.job_resources = {
            "REQUIRED_CPU": cpu_requested,
            "REQUIRED_MEMORY": memory_requested,
            "REQUIRED_DISK_SPACE": disk_requested,
        }
        self.notifications = notifications or {}
        self.dependencies = dependencies
        self.git_token_name = git_token_name
        self.verbose = verbose
        self._client = _client_or_default(client)
        self.train_result_: ModelFuture | None = None
        train_id, predict_id, _ = template_ids(civisml_version, self._client)
        self.train_template_id: int = int(train_id or 0)
        self.predict_template_id: int = int(predict_id or 0)
        self.etl = etl
        if etl is not None and self.train_template_id < V2_TRAINING:
            raise NotImplementedError(
                "The etl argument is not implemented in this CivisML version."
            )

    def __repr__(self) -> str:
        model = self.model if isinstance(self.model, str) else type(self._input_model).__name__
        target = " ".join(self.dependent_variable or [])
        return f"<ModelPipeline {model} -> {target}>"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_client"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__ = state
        self._client = _client_or_default(None)

    # -- properties of the trained model ---------------------------------------------
    def _trained(self) -> ModelFuture:
        if not self.train_result_:
            raise ValueError("This model hasn't been trained yet.")
        return self.train_result_

    @property
    def state(self) -> str:
        """The state of the training run (does not wait)."""
        return self._trained().state

    @property
    def estimator(self) -> Any:
        """The fitted scikit-learn ``Pipeline`` (waits for training)."""
        return self._trained().estimator

    # -- runs ------------------------------------------------------------------------
    def _git_credential(self) -> int:
        creds = find(self._client.credentials.list(), name=self.git_token_name, type="Custom")
        if len(creds) != 1:
            raise ValueError(
                f"Unique credential with name '{self.git_token_name}' for remote git hosting "
                "service not found!"
            )
        return int(creds[0]["id"])

    def _create_custom_run(
        self,
        template_id: int,
        job_name: str | None = None,
        table_name: str | None = None,
        database_name: str | None = None,
        file_id: int | None = None,
        args: dict[str, Any] | None = None,
        resources: dict[str, Any] | None = None,
        polling_interval: float | None = None,
    ) -> tuple[ModelFuture, Any, Any]:
        """Make a custom script from a template, start it, and follow its run."""
        arguments: dict[str, Any] = {
            "TABLE_NAME": table_name,
            "CIVIS_FILE_ID": int(file_id) if file_id is not None else None,
            "DEBUG": self.verbose,
        }
        if database_name:
            if template_id < 8000:  # CivisML v0 named the database
                arguments["DB_NAME"] = database_name
            else:
                arguments["DB"] = {"database": self._client.get_database_id(database_name)}
        arguments.update({k: v for k, v in (resources or {}).items() if v})
        if self.git_token_name:
            arguments["GIT_CRED"] = self._git_credential()
        arguments.update(args or {})
        container = self._client.scripts.post_custom(
            from_template_id=template_id,
            name=job_name,
            arguments=arguments,
            notifications=self.notifications,
        )
        run = self._client.scripts.post_custom_runs(container["id"])
        train: dict[str, Any] = {}
        if self.train_result_ is not None:
            train = {
                "train_job_id": self.train_result_.job_id,
                "train_run_id": self.train_result_.run_id,
            }
        future = ModelFuture(
            container["id"],
            run["id"],
            client=self._client,
            polling_interval=polling_interval,
            poll_on_creation=False,
            **train,
        )
        return future, container, run

    def train(
        self,
        df: Any = None,
        csv_path: str | None = None,
        table_name: str | None = None,
        database_name: str | None = None,
        file_id: int | None = None,
        sql_where: str | None = None,
        sql_limit: int | None = None,
        oos_scores: str | None = None,
        oos_scores_db: str | None = None,
        if_exists: str = "fail",
        fit_params: dict[str, str] | None = None,
        polling_interval: float | None = None,
        validation_data: str = "train",
        n_jobs: int | None = None,
    ) -> ModelFuture:
        """Start training (cross-validation, then a fit on every row).

        Give the data as one of a DataFrame (``df``), a local CSV
        (``csv_path``), a table (``table_name`` and ``database_name``) or a
        Civis file holding a CSV (``file_id``).

        Parameters
        ----------
        df : pandas.DataFrame, optional
            Uploaded to a Civis file (its index is ignored).
        csv_path : str, optional
        table_name, database_name : str, optional
        file_id : int, optional
        sql_where : str, optional
            A SQL ``WHERE`` condition on the table's rows.
        sql_limit : int, optional
            A SQL ``LIMIT`` on the table's rows.
        oos_scores : str, optional
            Also store the out-of-sample scores in this table (``schema.table``).
        oos_scores_db : str, optional
            Database of ``oos_scores`` (default: the data's).
        if_exists : {"fail", "append", "drop", "truncate"}
            What to do if ``oos_scores`` exists.
        fit_params : dict, optional
            ``fit`` parameter -> column, e.g. ``{"sample_weight": "weight"}``.
        polling_interval : float, optional
        validation_data : {"train", "skip"}
            Cross-validate on the training data, or skip validation.
        n_jobs : int, optional
            Parallel workers for training and validation.

        Returns
        -------
        ModelFuture
        """
        _check_one_source(
            (bool(table_name and database_name), bool(file_id), df is not None, bool(csv_path))
        )
        if df is not None:
            file_id = _stash_dataframe(df, self.train_template_id, self._client)
        elif csv_path:
            file_id = _stash_csv(csv_path, self._client)
        args: dict[str, Any] = {
            "TARGET_COLUMN": " ".join(self.dependent_variable or []),
            "PRIMARY_KEY": self.primary_key,
            "PARAMS": json.dumps(self.parameters),
            "CVPARAMS": json.dumps(self.cv_params),
            "CALIBRATION": self.calibration,
            "IF_EXISTS": if_exists,
        }
        optional = {
            "OOSTABLE": oos_scores,
            "WHERESQL": sql_where,
            "LIMITSQL": sql_limit,
            "EXCLUDE_COLS": " ".join(self.excluded_columns or []),
            "FIT_PARAMS": json.dumps(fit_params) if fit_params else None,
            "DEPENDENCIES": " ".join(self.dependencies or []),
        }
        if self.train_template_id >= V2_TRAINING:
            optional.update(
                {
                    "VALIDATION_DATA": validation_data,
                    "N_JOBS": n_jobs,
                    "ETL": self._upload_etl() if self.etl is not None else None,
                }
            )
        args.update({k: v for k, v in optional.items() if v})
        if oos_scores_db:
            args["OOSDB"] = {"database": self._client.get_database_id(oos_scores_db)}
        if _is_estimator(self.model):
            self._input_model = self.model
            label = self.model_name or "CivisML"
            self.model = str(_upload_pickle(self.model, f"Estimator for {label}", self._client))
        args["MODEL"] = self.model
        self.train_result_ = None
        future, _container, _run = self._create_custom_run(
            self.train_template_id,
            job_name=f"{self.model_name} Train" if self.model_name else None,
            table_name=table_name,
            database_name=database_name,
            file_id=file_id,
            args=args,
            resources=self.job_resources,
            polling_interval=polling_interval,
        )
        self.train_result_ = future
        return future

    def _upload_etl(self) -> str | None:
        if not _is_estimator(self.etl):
            return None
        return str(_upload_pickle(self.etl, "ETL Estimator", self._client))

    def predict(
        self,
        df: Any = None,
        csv_path: str | None = None,
        table_name: str | None = None,
        database_name: str | None = None,
        manifest: int | None = None,
        file_id: int | None = None,
        sql_where: str | None = None,
        sql_limit: int | None = None,
        primary_key: Any = SENTINEL,
        output_table: str | None = None,
        output_db: str | None = None,
        if_exists: str = "fail",
        n_jobs: int | None = None,
        polling_interval: float | None = None,
        cpu: int | None = None,
        memory: int | None = None,
        disk_space: float | None = None,
        dvs_to_predict: str | list[str] | None = None,
    ) -> ModelFuture:
        """Start scoring data with the trained model (waits for training to succeed).

        Give the data as one of a DataFrame, a local CSV, a table, a Civis
        file holding a CSV, or a manifest of files. The scores are always
        stored as gzipped CSV files (``metadata["output_file_ids"]``); give
        ``output_table`` to also write them to a table.

        Parameters
        ----------
        df : pandas.DataFrame, optional
        csv_path : str, optional
        table_name, database_name : str, optional
        manifest : int, optional
            A Civis file with a manifest of CSV parts.
        file_id : int, optional
        sql_where : str, optional
        sql_limit : int, optional
        primary_key : str or None, optional
            The data's primary key (default: the training data's; ``None``: none).
        output_table : str, optional
        output_db : str, optional
            Database of ``output_table`` (default: the data's).
        if_exists : {"fail", "append", "drop", "truncate"}
        n_jobs : int, optional
        polling_interval : float, optional
        cpu, memory, disk_space : optional
            Resources of the prediction run.
        dvs_to_predict : str or list of str, optional
            Score only these targets of a multi-target model.

        Returns
        -------
        ModelFuture

        Raises
        ------
        ValueError
            If the model was not trained.
        """
        trained = self._trained()
        trained.result()
        _check_one_source(
            (
                bool(table_name and database_name) or manifest is not None,
                bool(file_id),
                df is not None,
                csv_path is not None,
            )
        )
        if df is not None:
            file_id = _stash_dataframe(df, self.predict_template_id, self._client)
        elif csv_path:
            file_id = _stash_csv(csv_path, self._client)
        args: dict[str, Any] = {
            "TRAIN_JOB": trained.job_id,
            "TRAIN_RUN": trained.run_id,
            "PRIMARY_KEY": self.primary_key if primary_key is SENTINEL else primary_key,
            "IF_EXISTS": if_exists,
        }
        optional: dict[str, Any] = {
            "OUTPUT_TABLE": output_table,
            "MANIFEST": manifest,
            "WHERESQL": sql_where,
            "LIMITSQL": sql_limit,
            "N_JOBS": n_jobs,
        }
        if output_db:
            optional["OUTPUT_DB"] = (
                output_db
                if self.predict_template_id == 7021  # CivisML v0 named the database
                else {"database": self._client.get_database_id(output_db)}
            )
        if dvs_to_predict and self.predict_template_id >= V2_2_PREDICTION:
            optional["TARGET_COLUMN"] = " ".join(_words(dvs_to_predict) or [])
        if self.predict_template_id >= V2_PREDICTION:
            optional.update({"CPU": cpu, "MEMORY": memory, "DISK_SPACE": disk_space})
        args.update({k: v for k, v in optional.items() if v})
        future, _container, _run = self._create_custom_run(
            self.predict_template_id,
            job_name=f"{self.model_name} Predict" if self.model_name else None,
            table_name=table_name,
            database_name=database_name,
            file_id=file_id,
            args=args,
            polling_interval=polling_interval,
        )
        return future

    # -- models made elsewhere ---------------------------------------------------------
    @classmethod
    def register_pretrained_model(
        cls,
        model: Any,
        dependent_variable: str | list[str] | None = None,
        features: str | list[str] | None = None,
        primary_key: str | None = None,
        model_name: str | None = None,
        dependencies: str | list[str] | None = None,
        git_token_name: str | None = None,
        skip_model_check: bool = False,
        verbose: bool = False,
        client: Any = None,
        civisml_version: str | None = None,
    ) -> ModelPipeline:
        """Register a model fitted elsewhere so that CivisML can score with it.

        Waits for the registration run.

        Parameters
        ----------
        model : estimator or int
            A fitted scikit-learn compatible estimator (uploaded, never
            expiring), or the id of a Civis file holding a pickled one.
        dependent_variable : str or list of str, optional
            The target(s) it predicts (names of the score columns).
        features : str or list of str, optional
            Its feature columns, in order (strongly recommended: without them
            the scoring data must hold only the features, in order).
        primary_key : str, optional
            The primary key of the data it will score.
        model_name : str, optional
            Name of the registration script.
        dependencies : str or list of str, optional
        git_token_name : str, optional
        skip_model_check : bool, optional
            Skip CivisML's checks of the model.
        verbose : bool, optional
        client : APIClient, optional
        civisml_version : str, optional

        Returns
        -------
        ModelPipeline

        Raises
        ------
        ModelError
            If CivisML refuses the model.
        """
        client = _client_or_default(client)
        if not model_name:
            model_name = f"Pretrained {type(model).__name__} model for CivisML"[:255]
        _, _, template_id = template_ids(civisml_version, client)
        if template_id is None:
            raise ValueError(
                "No registration template ID is available: registering a pre-trained model "
                f'needs CivisML v2.2 or later, not "{civisml_version!r}".'
            )
        if isinstance(model, (int, float, str)):
            model_file_id = int(model)
        else:
            model_file_id = _upload_pickle(model, "estimator.pkl", client, expires_at=None)
        args: dict[str, Any] = {
            "MODEL_FILE_ID": str(model_file_id),
            "SKIP_MODEL_CHECK": skip_model_check,
            "DEBUG": verbose,
        }
        for key, words in (
            ("TARGET_COLUMN", dependent_variable),
            ("FEATURE_COLUMNS", features),
            ("DEPENDENCIES", dependencies),
        ):
            if words is not None:
                args[key] = " ".join(_words(words) or [])
        if git_token_name:
            creds = find(client.credentials.list(), name=git_token_name, type="Custom")
            if len(creds) != 1:
                raise ValueError(
                    f"Unique credential with name '{git_token_name}' for remote git hosting "
                    "service not found!"
                )
            args["GIT_CRED"] = int(creds[0]["id"])
        container = client.scripts.post_custom(
            from_template_id=template_id, name=model_name, arguments=args
        )
        run = client.scripts.post_custom_runs(container["id"])
        future = ModelFuture(container["id"], run["id"], client=client, poll_on_creation=False)
        future.result()
        pipeline = cls.from_existing(future.job_id, future.run_id, client)
        pipeline.primary_key = primary_key
        return pipeline

    @classmethod
    def from_existing(
        cls, train_job_id: int, train_run_id: int | str = "latest", client: Any = None
    ) -> ModelPipeline:
        """A pipeline for a model trained (or registered) before.

        Parameters
        ----------
        train_job_id : int
            The CivisML training (or registration) script.
        train_run_id : int or {"latest", "active"}, optional
            Its run: an id, the latest run, or the one its ``ACTIVE_BUILD``
            argument names.
        client : APIClient, optional

        Returns
        -------
        ModelPipeline

        Raises
        ------
        ValueError
            If there is no such script or run.
        """
        train_job_id = int(train_job_id)
        client = _client_or_default(client)
        try:
            run_id = _decode_run(train_job_id, train_run_id, client)
            future = ModelFuture(train_job_id, run_id, client=client)
            container = client.scripts.get_containers(train_job_id)
        except CivisAPIError as exc:
            if exc.status_code == 404:
                raise ValueError(
                    f"There is no Civis Platform job with script ID {train_job_id} and run ID "
                    f"{train_run_id}!"
                ) from exc
            raise
        args = container["arguments"] or {}
        name = container["name"] or ""
        if name.endswith(" Train"):
            name = name[: -len(" Train")]
        notifications = container.get("notifications") or {}
        if hasattr(notifications, "json"):
            notifications = notifications.json()
        git_token = args.get("GIT_CRED")
        pipeline = cls(
            model=args.get("MODEL", args.get("WORKFLOW")),
            dependent_variable=(args.get("TARGET_COLUMN") or "").split(),
            primary_key=args.get("PRIMARY_KEY"),
            parameters=json.loads(args.get("PARAMS") or "{}"),
            cross_validation_parameters=_cv_params(args.get("CVPARAMS")),
            model_name=name,
            calibration=args.get("CALIBRATION"),
            excluded_columns=(args.get("EXCLUDE_COLS") or "").split() or None,
            client=client,
            cpu_requested=args.get("REQUIRED_CPU"),
            memory_requested=args.get("REQUIRED_MEMORY"),
            disk_requested=args.get("REQUIRED_DISK_SPACE"),
            notifications={_snake(k): v for k, v in dict(notifications).items()},
            dependencies=(args.get("DEPENDENCIES") or "").split() or None,
            git_token_name=client.credentials.get(git_token)["name"] if git_token else None,
            verbose=args.get("DEBUG", False),
        )
        pipeline.train_result_ = future
        template_id = int(container["from_template_id"])
        for ids in template_ids_all_versions(client).values():
            if template_id in (ids["training"], ids["registration"]):
                pipeline.predict_template_id = int(ids["prediction"] or 0)
                break
        return pipeline


def _cv_params(text: str | None) -> Any:
    if not text:
        return {}
    if text == "hyperband":
        return text
    return json.loads(text)
