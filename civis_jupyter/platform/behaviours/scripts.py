"""Container, Python 3 and custom scripts, and script templates.

- ``/scripts/containers``: a run executes ``dockerCommand`` with bash as a
  local subprocess (the image name and tag are recorded, not used).
- ``/scripts/python3``: a run executes ``source`` with this Python.
- ``/templates/scripts`` publishes a script as a template;
  ``/scripts/custom`` makes a script from a template (``fromTemplateId``) whose
  runs execute the template's script with the custom script's arguments.
- ``POST /scripts`` (Civis's older "create a script", with ``sql``) makes a
  SQL script, which ``/scripts/{id}`` and ``/scripts/sql/{id}`` then find.

Script parameters reach the process as environment variables named after
the parameters (values from ``arguments``, else the parameter's ``default``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..contract import ApiError, Reply, Request, Services, handles
from ..runner import RunContext, command_executor
from ..store import author_id
from ._common import JobKind, body_get, int_param, register_job_kind, run_summary, shape

__all__ = ["create_demo_scripts", "script_env"]

CONTAINERS = "scripts/containers"
PYTHON3 = "scripts/python3"
CUSTOM = "scripts/custom"
TEMPLATES = "templates/scripts"
_COMMON_FIELDS = (
    "parentId",
    "userContext",
    "schedule",
    "notifications",
    "timeZone",
    "targetProjectId",
    "runningAsId",
    "partitionLabel",
    "instanceType",
    "cancelTimeout",
    "nextRunAt",
)


def script_env(
    params: list[dict[str, Any]] | None, arguments: dict[str, Any] | None
) -> dict[str, str]:
    """Environment variables for a script's parameters.

    Parameters
    ----------
    params : list of dict, optional
        Declared parameters (``name``, ``default``, ``value``).
    arguments : dict, optional
        Values by name (also those without a declared parameter).

    Returns
    -------
    dict
        Name -> text (booleans as ``true``/``false``); unset values are left out.
    """
    values: dict[str, Any] = {}
    for p in params or []:
        name = p.get("name")
        if name:
            fixed = p.get("value")
            values[name] = fixed if fixed is not None else p.get("default")
    values.update(arguments or {})
    env = {}
    for name, value in values.items():
        if value is None or not str(name).replace("_", "").isalnum():
            continue
        if isinstance(value, bool):
            env[str(name)] = "true" if value else "false"
        elif isinstance(value, (dict, list)):
            env[str(name)] = json.dumps(value)
        else:
            env[str(name)] = str(value)
    return env


def _check_params(params: Any) -> list[dict[str, Any]]:
    if params is None:
        return []
    if not isinstance(params, list) or not all(
        isinstance(p, dict) and p.get("name") for p in params
    ):
        raise ApiError(400, "params must be a list of objects with a name")
    return params


def _check_arguments(arguments: Any) -> dict[str, Any]:
    if arguments is None:
        return {}
    if not isinstance(arguments, dict):
        raise ApiError(400, "arguments must be an object")
    return arguments


def _required_resources(req: Request, required: bool) -> dict[str, Any] | None:
    res = body_get(req, "requiredResources")
    if res is None:
        if required:
            raise ApiError(400, "requiredResources is required: {cpu, memory}")
        return None
    if not isinstance(res, dict):
        raise ApiError(400, "requiredResources must be an object")
    for key in ("cpu", "memory"):
        if required and res.get(key) is None:
            raise ApiError(400, f"requiredResources.{key} is required")
        if res.get(key) is not None:
            int_param(res[key], f"requiredResources.{key}")
    return {"cpu": res.get("cpu"), "memory": res.get("memory"), "diskSpace": res.get("diskSpace")}


def _common(req: Request) -> dict[str, Any]:
    out = {k: body_get(req, k) for k in _COMMON_FIELDS}
    out.update(
        {
            "notifications": body_get(req, "notifications") or {},
            "params": _check_params(body_get(req, "params")),
            "arguments": _check_arguments(body_get(req, "arguments")),
            "hidden": bool(body_get(req, "hidden", False)),
            "archived": False,
            "isTemplate": False,
            "category": "script",
        }
    )
    return out


def script_record(req: Request, kind: str, obj: dict[str, Any], script_type: str) -> dict[str, Any]:
    """A script with its type, links, author and last run."""
    runner = req.runner
    run = runner.last_run(obj["id"])
    out = dict(obj)
    out.update(
        {
            "type": script_type,
            "state": run["state"] if run else "idle",
            "finishedAt": run and run["finishedAt"],
            "lastRun": run_summary(run),
            "author": req.store.objects.author(obj),
            "myPermissionLevel": req.store.permissions.level(obj, req.user),
            "links": {
                "details": f"api/{kind}/{obj['id']}",
                "runs": f"api/{kind}/{obj['id']}/runs",
            },
            "templateDependentsCount": 0,
        }
    )
    if kind == CUSTOM:
        runs = [r for r in runner.runs(obj["id"]) if r["state"] == "succeeded"]
        out["lastSuccessfulRun"] = run_summary(runs[0] if runs else None)
    return out


# -- containers ----------------------------------------------------------------------


def _container_fields(req: Request, owner: dict[str, Any] | None = None) -> dict[str, Any]:
    command = body_get(req, "dockerCommand")
    if command is not None and not isinstance(command, str):
        raise ApiError(400, "dockerCommand must be a string")
    fields = _common(req)
    fields.update(
        {
            "name": body_get(req, "name") or "Container Script",
            "requiredResources": _required_resources(req, required=True),
            "dockerCommand": command,
            "dockerImageName": body_get(req, "dockerImageName"),
            "dockerImageTag": body_get(req, "dockerImageTag", "latest"),
            "repoHttpUri": body_get(req, "repoHttpUri"),
            "repoRef": body_get(req, "repoRef"),
            "remoteHostCredentialId": body_get(req, "remoteHostCredentialId"),
            "gitCredentialId": body_get(req, "gitCredentialId"),
            "cancelTimeout": body_get(req, "cancelTimeout", 0),
            "fromTemplateAliases": [],
        }
    )
    return fields


def _container_executor(req: Request, job: dict[str, Any]):
    env = script_env(job.get("params"), job.get("arguments"))
    return command_executor(
        job.get("dockerCommand") or "", env=env, cancel_timeout=job.get("cancelTimeout")
    )


@handles("post", "scripts/containers")
def create_container(req: Request) -> Reply:
    obj = req.store.objects.create(CONTAINERS, _container_fields(req), req.user)
    return Reply(shape(req, script_record(req, CONTAINERS, obj, "script/containers")), status=201)


@handles("get", "scripts/containers/{id}")
def get_container(req: Request) -> Reply:
    """A container script, or a custom script whose template runs a container (as Civis)."""
    obj_id = req.path_params["id"]
    kind, obj = req.store.objects.find_job(obj_id, [CONTAINERS, CUSTOM], req.user)
    if kind == CUSTOM and obj.get("backingScriptType") != "container":
        raise ApiError(404, f"script {obj_id} is not a container script", "not_found")
    return Reply(shape(req, script_record(req, kind, obj, "script/containers")))


# -- python3 -------------------------------------------------------------------------


def _python_executor(req: Request, job: dict[str, Any]):
    env = script_env(job.get("params"), job.get("arguments"))
    source = job.get("source") or ""

    def prepare(ctx: RunContext) -> None:
        work = ctx.run_dir / "work"
        work.mkdir(parents=True, exist_ok=True)
        script = ctx.run_dir / "script.py"
        script.write_text(source, encoding="utf-8")
        env["CIVIS_SCRIPT_FILE"] = str(script.resolve())

    return command_executor('python "$CIVIS_SCRIPT_FILE"', env=env, prepare=prepare)


@handles("post", "scripts/python3")
def create_python3(req: Request) -> Reply:
    source = body_get(req, "source")
    if not isinstance(source, str):
        raise ApiError(400, "source is required and must be a string")
    name = body_get(req, "name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "name is required")
    fields = _common(req)
    fields.update(
        {
            "name": name,
            "source": source,
            "requiredResources": _required_resources(req, required=False),
            "dockerImageTag": body_get(req, "dockerImageTag"),
        }
    )
    obj = req.store.objects.create(PYTHON3, fields, req.user)
    return Reply(shape(req, script_record(req, PYTHON3, obj, "script/python3")), status=201)


@handles("get", "scripts/python3/{id}")
def get_python3(req: Request) -> Reply:
    obj = req.store.objects.get(PYTHON3, req.path_params["id"], req.user)
    return Reply(shape(req, script_record(req, PYTHON3, obj, "script/python3")))


# -- templates and custom scripts ----------------------------------------------------------

_BACKING = {CONTAINERS: "container", PYTHON3: "python3", "scripts/sql": "sql"}


def _backing_script(
    platform: Services, user: dict[str, Any] | None, script_id: int
) -> tuple[str, dict]:
    """The script behind a template: readable by ``user``, or by anyone when
    ``user`` is None (running a template does not need access to its script)."""
    for kind in _BACKING:
        if user is None:
            found = platform.store.objects.raw(script_id, kind)
        else:
            found = platform.store.objects.find(kind, script_id, user)
        if found is not None:
            return kind, found
    raise ApiError(404, f"script {script_id} is not a container, Python or SQL script")


def template_record(req: Request, obj: dict[str, Any]) -> dict[str, Any]:
    """A script template as the API shows it."""
    return dict(
        obj,
        author=req.store.objects.author(obj),
        myPermissionLevel=req.store.permissions.level(obj, req.user),
    )


@handles("post", "templates/scripts")
def create_template(req: Request) -> Reply:
    script_id = int_param(body_get(req, "scriptId"), "scriptId")
    name = body_get(req, "name")
    if script_id is None or not isinstance(name, str) or not name.strip():
        raise ApiError(400, "scriptId and name are required")
    kind, script = _backing_script(req.platform, req.user, script_id)
    fields = {
        "name": name,
        "scriptId": script_id,
        "scriptType": _BACKING[kind],
        "params": script.get("params") or [],
        "note": body_get(req, "note"),
        "uiReportId": body_get(req, "uiReportId"),
        "archived": bool(body_get(req, "archived", False)),
        "hidden": bool(body_get(req, "hidden", False)),
        "public": False,
        "techReviewed": False,
        "useCount": 0,
        "category": "script",
        "userContext": "runner",
    }
    obj = req.store.objects.create(TEMPLATES, fields, req.user)
    req.store.objects.update(kind, script_id, {"publishedAsTemplateId": obj["id"]}, req.user)
    return Reply(shape(req, template_record(req, obj)), status=201)


@handles("get", "templates/scripts/{id}")
def get_template(req: Request) -> Reply:
    obj = req.store.objects.get(TEMPLATES, req.path_params["id"], req.user)
    return Reply(shape(req, template_record(req, obj)))


@handles("get", "templates/scripts")
def list_templates(req: Request) -> Reply:
    from ._common import paginate

    q = req.query
    hidden = str(q.get("hidden", "false")).lower() == "true"
    authors = {int(a) for a in str(q.get("author") or "").split(",") if a.strip().isdigit()}
    rows = []
    for obj in req.store.objects.list(TEMPLATES, req.user):
        if bool(obj.get("hidden")) != hidden:
            continue
        if q.get("category") and obj.get("category") != q["category"]:
            continue
        if authors and obj.get("authorId") not in authors:
            continue
        rows.append(shape(req, [template_record(req, obj)])[0])
    return paginate(
        req,
        rows,
        default_limit=50,
        max_limit=1000,
        order_keys={
            "name": lambda t: t["name"],
            "updated_at": lambda t: t["updatedAt"],
            "created_at": lambda t: t["createdAt"],
        },
        default_order="name",
    )


def _custom_executor(req: Request, job: dict[str, Any]):
    from ._common import JOB_KINDS

    template = req.store.objects.get(TEMPLATES, job["fromTemplateId"], req.user)
    kind, script = _backing_script(req.platform, None, template["scriptId"])
    merged = dict(script)
    merged["arguments"] = {**(script.get("arguments") or {}), **(job.get("arguments") or {})}
    merged["params"] = script.get("params") or []
    return JOB_KINDS[kind].executor(req, merged)


@handles("post", "scripts/custom")
def create_custom(req: Request) -> Reply:
    template_id = int_param(body_get(req, "fromTemplateId"), "fromTemplateId")
    if template_id is None:
        raise ApiError(400, "fromTemplateId is required")
    template = req.store.objects.get(TEMPLATES, template_id, req.user)
    kind, _script = _backing_script(req.platform, None, template["scriptId"])
    fields = _common(req)
    fields.update(
        {
            "name": body_get(req, "name") or template["name"],
            "fromTemplateId": template_id,
            "templateScriptName": template["name"],
            "backingScriptType": _BACKING[kind],
            "params": template.get("params") or [],
            "remoteHostId": body_get(req, "remoteHostId"),
            "credentialId": body_get(req, "credentialId"),
            "requiredResources": _required_resources(req, required=False),
            "templateNote": template.get("note"),
            "fromTemplateAliases": [],
        }
    )
    obj = req.store.objects.create(CUSTOM, fields, req.user)
    req.store.objects.write_raw(template_id, {"useCount": int(template.get("useCount") or 0) + 1})
    return Reply(shape(req, script_record(req, CUSTOM, obj, "script/custom")), status=201)


@handles("get", "scripts/custom/{id}")
def get_custom(req: Request) -> Reply:
    obj = req.store.objects.get(CUSTOM, req.path_params["id"], req.user)
    return Reply(shape(req, script_record(req, CUSTOM, obj, "script/custom")))


def create_demo_scripts(platform: Services, command: str, template_command: str) -> dict[str, int]:
    """Create the demo container script and a custom-script template (seed).

    Parameters
    ----------
    platform : object
        The platform; objects belong to its first (admin) user.
    command : str
        The demo container script's command.
    template_command : str
        The command of the script behind the template (uses ``$NAME``).

    Returns
    -------
    dict
        ``script_id``, ``template_script_id`` and ``template_id``.
    """
    user = platform.store.identity.admin_user()
    base = {
        "params": [],
        "arguments": {},
        "hidden": False,
        "archived": False,
        "isTemplate": False,
        "category": "script",
        "requiredResources": {"cpu": 256, "memory": 512, "diskSpace": 1},
        "dockerImageName": "civisanalytics/datascience-python",
        "dockerImageTag": "latest",
        "fromTemplateAliases": [],
        "cancelTimeout": 0,
    }
    demo = platform.store.objects.create(
        CONTAINERS, dict(base, name="Demo container script", dockerCommand=command), user
    )
    params = [
        {
            "name": "NAME",
            "label": "Who to greet",
            "description": "The name printed by the script",
            "type": "string",
            "required": False,
            "value": None,
            "default": "world",
            "allowedValues": [],
        }
    ]
    backing = platform.store.objects.create(
        CONTAINERS,
        dict(base, name="Greeting script", dockerCommand=template_command, params=params),
        user,
    )
    template = platform.store.objects.create(
        TEMPLATES,
        {
            "name": "Greeting",
            "scriptId": backing["id"],
            "scriptType": "container",
            "params": params,
            "note": "Prints a greeting; set NAME.",
            "archived": False,
            "hidden": False,
            "public": True,
            "techReviewed": True,
            "useCount": 0,
            "category": "script",
            "userContext": "runner",
            "uiReportId": None,
        },
        user,
        public=True,
    )
    platform.store.objects.update(
        CONTAINERS, backing["id"], {"publishedAsTemplateId": template["id"]}, user
    )
    importer = _import_from_url_template(platform, user)
    return {
        "script_id": demo["id"],
        "template_script_id": backing["id"],
        "template_id": template["id"],
        "import_template_id": importer["id"],
    }


def _param(name: str, label: str, required: bool, default: str | None = None) -> dict:
    return {
        "name": name,
        "label": label,
        "description": label,
        "type": "string",
        "required": required,
        "value": None,
        "default": default,
        "allowedValues": [],
    }


def _import_from_url_template(platform: Services, user: dict[str, Any]) -> dict[str, Any]:
    """Publish the "Import from URL" Python script as a template (seed)."""
    from .. import import_from_url

    params = [
        _param("URL", "URL of a CSV file", True),
        _param("TABLE_NAME", "Destination table (schema.table)", True),
        _param("IF_EXISTS", "fail, append, truncate or drop", False, "fail"),
        _param("DATABASE_NAME", "Database name", False),
    ]
    script = platform.store.objects.create(
        PYTHON3,
        {
            "name": "Import from URL script",
            "source": Path(import_from_url.__file__).read_text(encoding="utf-8"),
            "params": params,
            "arguments": {},
            "hidden": False,
            "archived": False,
            "isTemplate": False,
            "category": "import",
        },
        user,
    )
    template = platform.store.objects.create(
        TEMPLATES,
        {
            "name": "Import from URL",
            "scriptId": script["id"],
            "scriptType": "python3",
            "params": params,
            "note": "Loads a CSV file at a URL into a table.",
            "archived": False,
            "hidden": False,
            "public": True,
            "techReviewed": True,
            "useCount": 0,
            "category": "import",
            "userContext": "runner",
            "uiReportId": None,
        },
        user,
        public=True,
    )
    platform.store.objects.update(
        PYTHON3, script["id"], {"publishedAsTemplateId": template["id"]}, user
    )
    return template


register_job_kind(
    JobKind(
        CONTAINERS,
        "JobTypes::ContainerDocker",
        "containerId",
        _container_executor,
        "script/containers",
    )
)
register_job_kind(
    JobKind(PYTHON3, "JobTypes::PythonDocker", "python3Id", _python_executor, "script/python3")
)
register_job_kind(
    JobKind(CUSTOM, "JobTypes::CustomScript", "customId", _custom_executor, "script/custom")
)


# -- /scripts over every script kind --------------------------------------------------------

_SCRIPT_TYPES = {
    "scripts/containers": ("script/containers", "containers"),
    "scripts/python3": ("script/python3", "python3"),
    "scripts/custom": ("script/custom", "custom"),
    "scripts/sql": ("script/sql", "sql"),
}


def _any_script(req: Request) -> tuple[str, dict[str, Any]]:
    obj_id = req.path_params["id"]
    kind = req.store.objects.kind_of(int(obj_id))
    if kind not in _SCRIPT_TYPES:
        raise ApiError(404, f"script {obj_id} not found", "not_found")
    return kind, req.store.objects.get(kind, obj_id, req.user)


@handles("get", "scripts")
def list_scripts(req: Request) -> Reply:
    from ._common import paginate

    q = req.query
    types = {t.strip() for t in str(q.get("type") or "").split(",") if t.strip()}
    statuses = {s.strip() for s in str(q.get("status") or "").split(",") if s.strip()}
    authors = {int(a) for a in str(q.get("author") or "").split(",") if a.strip().isdigit()}
    hidden = str(q.get("hidden", "false")).lower() == "true"
    archived = str(q.get("archived") or "false").lower()
    rows = []
    for kind, (script_type, short) in _SCRIPT_TYPES.items():
        if types and short not in types:
            continue
        for obj in req.store.objects.list(kind, req.user, archived=None):
            if bool(obj.get("hidden")) != hidden:
                continue
            if archived != "all" and bool(obj.get("archived")) != (archived == "true"):
                continue
            if q.get("category") and obj.get("category", "script") != q["category"]:
                continue
            if authors and author_id(obj) not in authors:
                continue
            rec = script_record(req, kind, obj, script_type)
            if statuses and rec["state"] not in statuses:
                continue
            rows.append(rec)
    return paginate(
        req,
        shape(req, rows),
        default_limit=20,
        max_limit=50,
        order_keys={
            "updated_at": lambda s: (s["updatedAt"] or "", s["id"]),
            "name": lambda s: s["name"] or "",
            "created_at": lambda s: (s["createdAt"] or "", s["id"]),
            "last_run.updated_at": lambda s: (
                (s["lastRun"] or {}).get("finishedAt")
                or (s["lastRun"] or {}).get("createdAt")
                or "",
                s["id"],
            ),
        },
        default_order="updated_at",
        default_dir="desc",
    )


@handles("post", "scripts")
def create_script(req: Request) -> Reply:
    """``POST /scripts``: a SQL script, shown as a Script with the documented 200.

    Parameters
    ----------
    req : Request
        Body ``name``, ``sql``, ``remoteHostId`` and ``credentialId`` (required),
        ``params``, ``arguments``, ``hidden``.

    Returns
    -------
    Reply
        The new script.
    """
    from .sql import create_sql_script

    made = create_sql_script(req)
    return Reply(made.body, headers=made.headers)


@handles("get", "scripts/{id}")
def get_script(req: Request) -> Reply:
    kind, obj = _any_script(req)
    return Reply(shape(req, script_record(req, kind, obj, _SCRIPT_TYPES[kind][0])))
