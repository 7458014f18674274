"""The CivisML script templates every platform offers, and their aliases.

Three public templates (training, prediction, registration), each backed by
a hidden container script that runs this package's worker
(``python -m civis_jupyter.platform.civisml train|predict|register``).
Clients find them the way the official client does, through
``/aliases?object_type=template_script``: ``civis-civisml-training`` (the
production version) and versioned aliases such as
``civis-civisml-training-v2-2``; every version names the same templates.

The templates keep the ids CivisML v2.2 has on Civis Platform (11219,
11220, 11221) where those ids are free: clients branch on template ids to
decide which arguments they may send (and the R client maps them without
asking the API).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..contract import Services
    from ..store.objects import Objects

__all__ = [
    "ALIAS_VERSIONS",
    "TEMPLATES",
    "Template",
    "install_templates",
]

#: Versions with their own aliases besides the production one (``None``).
ALIAS_VERSIONS: tuple[str | None, ...] = (None, "v2.2", "v2.3")


def _param(
    name: str,
    label: str,
    kind: str = "string",
    required: bool = False,
    default: Any = None,
    allowed: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "description": label,
        "type": kind,
        "required": required,
        "value": None,
        "default": default,
        "allowedValues": [{"label": v, "value": v} for v in allowed or []],
    }


_IF_EXISTS = ["fail", "append", "drop", "truncate"]
_SOURCE = [
    _param("TABLE_NAME", "Table of data (schema.table)"),
    _param("DB", "Database of the table", "database"),
    _param("CIVIS_FILE_ID", "Civis file of data (CSV or feather)", "integer"),
    _param("WHERESQL", "SQL WHERE clause scoping the rows"),
    _param("LIMITSQL", "SQL LIMIT on the rows", "integer"),
    _param("DEBUG", "Verbose logs", "bool", default=False),
]
_RESOURCES = [
    _param("REQUIRED_CPU", "CPU shares (recorded, not enforced)", "integer"),
    _param("REQUIRED_MEMORY", "Memory in MiB (recorded, not enforced)", "integer"),
    _param("REQUIRED_DISK_SPACE", "Disk in GB (recorded, not enforced)", "float"),
]
_DEPENDENCIES = [
    _param("DEPENDENCIES", "Packages to pip install, space-separated"),
    _param("GIT_CRED", "Credential of a git token (not supported locally)", "credential_custom"),
]

TRAINING_PARAMS = [
    _param("MODEL", "Predefined model name or file id of a pickled estimator", required=True),
    _param("TARGET_COLUMN", "Dependent variable(s), space-separated", required=True),
    _param("PRIMARY_KEY", "Primary key column"),
    _param("EXCLUDE_COLS", "Columns not used as features, space-separated"),
    _param("PARAMS", "Parameters of the estimator (JSON)", default="{}"),
    _param("CVPARAMS", 'Grid to search (JSON), or "hyperband"', default="{}"),
    _param("CALIBRATION", "Calibration of probabilities", allowed=["sigmoid", "isotonic"]),
    _param("FIT_PARAMS", "fit parameter -> column (JSON)"),
    _param("OOSTABLE", "Table for out-of-sample scores (schema.table)"),
    _param("OOSDB", "Database of the out-of-sample table", "database"),
    _param("IF_EXISTS", "When the scores table exists", default="fail", allowed=_IF_EXISTS),
    _param("VALIDATION_DATA", "train (cross-validate) or skip", default="train"),
    _param("N_JOBS", "Parallel jobs", "integer"),
    _param("ETL", "File id of a pickled ETL estimator", "integer"),
    *_SOURCE,
    *_DEPENDENCIES,
    *_RESOURCES,
]
PREDICTION_PARAMS = [
    _param("TRAIN_JOB", "Training (or registration) job id", "integer", required=True),
    _param("TRAIN_RUN", "Training (or registration) run id", "integer", required=True),
    _param("PRIMARY_KEY", "Primary key column"),
    _param("MANIFEST", "File id of an export manifest", "integer"),
    _param("OUTPUT_TABLE", "Table for the predictions (schema.table)"),
    _param("OUTPUT_DB", "Database of the output table", "database"),
    _param("IF_EXISTS", "When the output table exists", default="fail", allowed=_IF_EXISTS),
    _param("TARGET_COLUMN", "Dependent variables to predict, space-separated"),
    _param("N_JOBS", "Parallel jobs", "integer"),
    _param("CPU", "CPU shares (recorded, not enforced)", "integer"),
    _param("MEMORY", "Memory in MiB (recorded, not enforced)", "integer"),
    _param("DISK_SPACE", "Disk in GB (recorded, not enforced)", "float"),
    *_SOURCE,
]
REGISTRATION_PARAMS = [
    _param("MODEL_FILE_ID", "File id of a pickled, fitted estimator", "integer", required=True),
    _param("TARGET_COLUMN", "Dependent variable(s), space-separated"),
    _param("FEATURE_COLUMNS", "Feature columns in order, space-separated"),
    _param("SKIP_MODEL_CHECK", "Skip checking the estimator", "bool", default=False),
    _param("DEBUG", "Verbose logs", "bool", default=False),
    *_DEPENDENCIES,
]


@dataclass(frozen=True)
class Template:
    """One CivisML template: its job type, name, id, parameters and command."""

    job_type: str
    name: str
    template_id: int
    params: list[dict[str, Any]]
    command: str
    note: str

    def alias(self, version: str | None) -> str:
        """The template's alias for a CivisML version (``None``: production)."""
        base = f"civis-civisml-{self.job_type}"
        if version is None:
            return base
        return f"{base}-v{version.lstrip('v').replace('.', '-')}"


def _command(action: str) -> str:
    return f"python -m civis_jupyter.platform.civisml {action}"


TEMPLATES: tuple[Template, ...] = (
    Template(
        "training",
        "CivisML Training",
        11219,
        TRAINING_PARAMS,
        _command("train"),
        "Trains a scikit-learn model with cross-validated metrics.",
    ),
    Template(
        "prediction",
        "CivisML Prediction",
        11220,
        PREDICTION_PARAMS,
        _command("predict"),
        "Scores a table or file with a trained or registered model.",
    ),
    Template(
        "registration",
        "CivisML Registration",
        11221,
        REGISTRATION_PARAMS,
        _command("register"),
        "Registers a model trained elsewhere for CivisML predictions.",
    ),
)


def _existing_aliases(store: Objects) -> set[str]:
    return {a["alias"] for a in store.list("aliases", None, archived=None) if a.get("alias")}


def _backing_script(store: Objects, admin: dict[str, Any], template: Template) -> dict[str, Any]:
    """The hidden container script a template runs."""
    return store.create(
        "scripts/containers",
        {
            "name": f"{template.name} (backing script)",
            "dockerCommand": template.command,
            "dockerImageName": "civisanalytics/civis-civisml",
            "dockerImageTag": "local",
            "requiredResources": {"cpu": 1024, "memory": 4096, "diskSpace": 2},
            "params": template.params,
            "arguments": {},
            "hidden": True,
            "archived": False,
            "isTemplate": True,
            "category": "script",
            "fromTemplateAliases": [],
            "cancelTimeout": 0,
        },
        admin,
    )


def _publish(
    store: Objects, admin: dict[str, Any], template: Template, script: dict[str, Any]
) -> dict[str, Any]:
    """The public template of a backing script, at its known id when that is free."""
    record = store.create(
        "templates/scripts",
        {
            "name": template.name,
            "scriptId": script["id"],
            "scriptType": "container",
            "params": template.params,
            "note": template.note,
            "archived": False,
            "hidden": False,
            "public": True,
            "techReviewed": True,
            "useCount": 0,
            "category": "script",
            "userContext": "runner",
            "uiReportId": None,
        },
        admin,
        public=True,
        obj_id=template.template_id if store.kind_of(template.template_id) is None else None,
    )
    store.write_raw(script["id"], {"publishedAsTemplateId": record["id"]})
    return record


def _add_aliases(
    store: Objects, admin: dict[str, Any], template: Template, template_id: int
) -> None:
    for version in ALIAS_VERSIONS:
        store.create(
            "aliases",
            {
                "objectId": template_id,
                "objectType": "template_script",
                "alias": template.alias(version),
                "userId": admin["id"],
                "displayName": f"{template.name} {version or '(production)'}",
            },
            admin,
            public=True,
        )


def install_templates(platform: Services) -> dict[str, int]:
    """Give a platform the CivisML templates unless it has them already.

    Parameters
    ----------
    platform : Services
        Gives ``store``; objects belong to its first (admin) user.

    Returns
    -------
    dict
        Job type (``training``, ``prediction``, ``registration``) -> template
        id, for the templates created now (empty when all existed).
    """
    store = platform.store.objects
    have = _existing_aliases(store)
    admin = platform.store.identity.admin_user()
    missing = [t for t in TEMPLATES if t.alias(None) not in have]
    # Backing scripts first: objects made after a template at its known id
    # get larger ids, which would take the next template's id.
    scripts = [_backing_script(store, admin, t) for t in missing]
    made = {}
    for template, script in zip(missing, scripts):
        made[template.job_type] = _publish(store, admin, template, script)["id"]
    for template in missing:
        _add_aliases(store, admin, template, made[template.job_type])
    return made
