"""SQL on the warehouses: ``/queries`` and ``/scripts/sql``.

- ``POST /queries`` starts a run at once and answers 200 with the query; its
  run keeps ``resultColumns`` and up to ``previewRows`` ``resultRows``.
- ``POST /scripts/sql`` stores a script; each run executes its SQL
  (``{{name}}`` placeholders filled from ``arguments``/``params`` defaults) and,
  when the last statement returns rows, exports them as CSV files following
  ``csvSettings`` (gzip by default). The run's ``output`` lists them with a
  signed ``path`` the client downloads; with ``forceMultifile`` the single
  output is a JSON manifest of the parts.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
import time
import uuid
from typing import Any

from ..contract import ApiError, Reply, Request, handles
from ..runner import RunContext
from ..store import author_id
from ..warehouse import CsvSettings, WarehouseError
from ._common import (
    JobKind,
    base_url,
    body_get,
    download_url,
    int_param,
    register_job_kind,
    run_summary,
    shape,
)
from .files import new_file

__all__ = ["fill_placeholders", "json_cell"]

QUERIES = "queries"
SQL_SCRIPTS = "scripts/sql"
MAX_PREVIEW_ROWS = 1000
EXPORT_EXPIRY_DAYS = 30
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def json_cell(value: Any) -> Any:
    """A result cell as Civis returns it in ``resultRows`` (text, or null)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else (value.isoformat())
    if isinstance(value, (decimal.Decimal, uuid.UUID, int, float)):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)


def fill_placeholders(
    sql: str, params: list[dict[str, Any]] | None, arguments: dict[str, Any] | None
) -> str:
    """Replace ``{{name}}`` placeholders with arguments (or the params' defaults).

    Parameters
    ----------
    sql : str
        The script's SQL.
    params : list of dict, optional
        Declared parameters (``name``, ``default``, ``required``).
    arguments : dict, optional
        Values by parameter name.

    Returns
    -------
    str

    Raises
    ------
    RuntimeError
        When a placeholder has neither an argument nor a default.
    """
    values = {p.get("name"): p.get("default") for p in params or [] if p.get("name")}
    values.update(arguments or {})

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if values.get(name) is None:
            raise RuntimeError(f"the SQL uses {{{{{name}}}}} but no value was given")
        return str(values[name])

    return _PLACEHOLDER.sub(sub, sql)


def _sql(req: Request) -> str:
    sql = body_get(req, "sql")
    if not isinstance(sql, str) or not sql.strip():
        raise ApiError(400, "sql is required and must be a non-empty string")
    return sql


def _database(req: Request, key: str) -> int:
    db_id = int_param(body_get(req, key), key)
    if db_id is None:
        raise ApiError(400, f"{key} is required")
    req.store.objects.get("databases", db_id, req.user)
    return db_id


def _credential(req: Request, key: str) -> int | None:
    cred = int_param(body_get(req, key), key)
    if cred is not None:
        req.store.objects.get("credentials", cred, req.user)
    return cred


# -- queries ------------------------------------------------------------------------


def _query_executor(req: Request, job: dict[str, Any]):
    platform = req.platform

    def run(ctx: RunContext) -> None:
        wh = platform.warehouses.get(job["database"])
        try:
            result = wh.execute(
                job["sql"],
                limit=job.get("previewRows") or 0,
                on_interrupt=ctx.on_cancel,
            )
        except WarehouseError as exc:
            ctx.check()
            raise RuntimeError(str(exc)) from None
        ctx.update(
            resultColumns=[c.name for c in result.columns],
            resultRows=[[json_cell(v) for v in row] for row in result.rows],
        )

    return run


def query_record(req: Request, obj: dict[str, Any]) -> dict[str, Any]:
    """A query with its last run's state, results and error merged in."""
    run = req.runner.last_run(obj["id"])
    out = dict(obj)
    out.update(
        {
            "state": run["state"] if run else "idle",
            "lastRunId": run["id"] if run else None,
            "startedAt": run and run["startedAt"],
            "finishedAt": run and run["finishedAt"],
            "error": run and run["error"],
            "exception": run and run["error"],
            "resultColumns": (run or {}).get("resultColumns") or [],
            "resultRows": (run or {}).get("resultRows") or [],
            "author": req.store.objects.author(obj),
            "myPermissionLevel": req.store.permissions.level(obj, req.user),
            "name": obj.get("name") or f"Query #{obj['id']}",
        }
    )
    return out


@handles("post", "queries")
def create_query(req: Request) -> Reply:
    preview = int_param(body_get(req, "previewRows"), "previewRows")
    if preview is None or not 0 <= preview <= MAX_PREVIEW_ROWS:
        raise ApiError(400, f"previewRows is required, from 0 to {MAX_PREVIEW_ROWS}")
    fields = {
        "database": _database(req, "database"),
        "sql": _sql(req),
        "credential": _credential(req, "credential")
        or req.store.identity.default_credential_id(req.user),
        "previewRows": preview,
        "hidden": bool(body_get(req, "hidden", False)),
        "interactive": bool(body_get(req, "interactive", False)),
        "includeHeader": bool(body_get(req, "includeHeader", True)),
        "compression": body_get(req, "compression", "gzip"),
        "columnDelimiter": body_get(req, "columnDelimiter", "comma"),
        "unquoted": bool(body_get(req, "unquoted", False)),
        "filenamePrefix": body_get(req, "filenamePrefix"),
        "archived": False,
        "scriptId": None,
        "reportId": None,
    }
    obj = req.store.objects.create(QUERIES, fields, req.user)
    req.runner.start(obj["id"], QUERIES, _query_executor(req, obj), user_id=req.user["id"])
    return Reply(shape(req, query_record(req, obj)), status=200)


@handles("get", "queries/{id}")
def get_query(req: Request) -> Reply:
    obj = req.store.objects.get(QUERIES, req.path_params["id"], req.user)
    return Reply(shape(req, query_record(req, obj)))


# -- SQL scripts ----------------------------------------------------------------------


def _export_executor(req: Request, job: dict[str, Any]):
    platform, user, root = req.platform, req.user, base_url(req)

    def run(ctx: RunContext) -> None:
        sql = fill_placeholders(job["sql"], job.get("params"), job.get("arguments"))
        try:
            settings = CsvSettings.from_api(job.get("csvSettings"))
        except WarehouseError as exc:
            raise RuntimeError(str(exc)) from None
        wh = platform.warehouses.get(job["remoteHostId"])
        try:
            result = wh.export_csv(
                sql,
                ctx.run_dir / "export",
                settings,
                on_interrupt=ctx.on_cancel,
            )
        except WarehouseError as exc:
            ctx.check()
            raise RuntimeError(str(exc)) from None
        ctx.check()
        expires = time.time() + EXPORT_EXPIRY_DAYS * 86400
        expires_iso = dt.datetime.fromtimestamp(expires, dt.timezone.utc).isoformat()
        files = []
        for path in result.paths:
            f = new_file(platform, user, path.name, expires_iso)
            platform.blobs.import_path(f["id"], path)
            files.append(f)
        if not files:
            ctx.log("The last statement returned no rows to export.")
            ctx.update(output=[])
            return
        rows = f"{result.row_count:,} row" + ("" if result.row_count == 1 else "s")
        parts = f"{len(files)} file" + ("" if len(files) == 1 else "s")
        ctx.log(f"Exported {rows} in {parts}.")
        if settings.force_multifile:
            manifest = {
                "query": sql,
                "header": [c.name for c in result.columns],
                "delimiter": {"comma": ",", "tab": "\t", "pipe": "|"}[settings.column_delimiter],
                "compression": settings.compression,
                "unquoted": settings.unquoted,
                "entries": [
                    {
                        "id": f["id"],
                        "name": f["name"],
                        "size": platform.blobs.size(f["id"]),
                        "url": f"civis://files/{f['id']}/{f['name']}",
                        "url_signed": platform.blobs.download_url(
                            root, f["id"], f["name"], expires
                        ),
                    }
                    for f in files
                ],
            }
            mf = new_file(platform, user, "manifest.json", expires_iso)
            platform.blobs.write_bytes(mf["id"], json.dumps(manifest).encode("utf-8"))
            files = [mf]
        outputs = []
        for f in files:
            outputs.append({"outputName": f["name"], "fileId": f["id"]})
            ctx.add_output("File", f["id"], name=f["name"])
        ctx.update(output=outputs)

    return run


def _sql_run_extra(req: Request, run: dict[str, Any]) -> dict[str, Any]:
    """Give each SQL run output a fresh signed ``path``."""
    outputs = []
    for o in run.get("output") or []:
        outputs.append(dict(o, path=download_url(req, o["fileId"], o["outputName"])))
    return dict(run, output=outputs, outputCachedOn=None)


def _csv_settings(req: Request) -> dict[str, Any]:
    raw = body_get(req, "csvSettings", {}) or {}
    if not isinstance(raw, dict):
        raise ApiError(400, "csvSettings must be an object")
    try:
        CsvSettings.from_api(raw)
    except WarehouseError as exc:
        raise ApiError(400, str(exc)) from None
    defaults = {
        "includeHeader": True,
        "compression": "gzip",
        "columnDelimiter": "comma",
        "unquoted": False,
        "forceMultifile": False,
        "filenamePrefix": None,
        "maxFileSize": None,
    }
    defaults.update({k: v for k, v in raw.items() if v is not None})
    return defaults


def sql_script_record(req: Request, obj: dict[str, Any]) -> dict[str, Any]:
    """A SQL script with its type, links, last run and state."""
    run = req.runner.last_run(obj["id"])
    out = dict(obj)
    out.update(
        {
            "type": "script/sql",
            "state": run["state"] if run else "idle",
            "finishedAt": run and run["finishedAt"],
            "lastRun": run_summary(run),
            "author": req.store.objects.author(obj),
            "myPermissionLevel": req.store.permissions.level(obj, req.user),
            "links": {
                "details": f"api/scripts/sql/{obj['id']}",
                "runs": f"api/scripts/sql/{obj['id']}/runs",
            },
            "codePreview": obj.get("sql"),
            "expandedArguments": obj.get("arguments") or {},
        }
    )
    return out


@handles("post", "scripts/sql")
def create_sql_script(req: Request) -> Reply:
    name = body_get(req, "name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "name is required")
    credential = _credential(req, "credentialId")
    if credential is None:
        raise ApiError(400, "credentialId is required")
    fields = {
        "name": name,
        "sql": _sql(req),
        "remoteHostId": _database(req, "remoteHostId"),
        "credentialId": credential,
        "csvSettings": _csv_settings(req),
        "params": body_get(req, "params", []) or [],
        "arguments": body_get(req, "arguments", {}) or {},
        "hidden": bool(body_get(req, "hidden", False)),
        "parentId": body_get(req, "parentId"),
        "userContext": body_get(req, "userContext", "runner"),
        "timeZone": body_get(req, "timeZone", "America/Chicago"),
        "targetProjectId": body_get(req, "targetProjectId"),
        "isTemplate": False,
        "archived": False,
        "category": "script",
    }
    obj = req.store.objects.create(SQL_SCRIPTS, fields, req.user)
    return Reply(shape(req, sql_script_record(req, obj)), status=201)


@handles("get", "scripts/sql/{id}")
def get_sql_script(req: Request) -> Reply:
    obj = req.store.objects.get(SQL_SCRIPTS, req.path_params["id"], req.user)
    return Reply(shape(req, sql_script_record(req, obj)))


register_job_kind(
    JobKind(
        kind=QUERIES,
        job_type="JobTypes::Query",
        parent_key="queryId",
        executor=_query_executor,
    )
)
register_job_kind(
    JobKind(
        kind=SQL_SCRIPTS,
        job_type="JobTypes::SqlRunner",
        parent_key="sqlId",
        executor=_export_executor,
        script_type="script/sql",
        run_extra=_sql_run_extra,
    )
)


@handles("get", "queries")
def list_queries(req: Request) -> Reply:
    from ._common import paginate

    q = req.query
    db_id = int_param(q.get("database_id"), "database_id")
    cred_id = int_param(q.get("credential_id"), "credential_id")
    author = int_param(q.get("author_id"), "author_id")
    states = q.get("state") or []
    states = set(states if isinstance(states, list) else str(states).split(","))
    hidden = str(q.get("hidden", "false")).lower() == "true"
    archived = str(q.get("archived") or "false").lower()
    text = str(q.get("query") or "").lower().replace("*", "")
    exclude = str(q.get("exclude_results", "false")).lower() == "true"
    rows = []
    for obj in req.store.objects.list(QUERIES, req.user, archived=None):
        if bool(obj.get("hidden")) != hidden:
            continue
        if archived != "all" and bool(obj.get("archived")) != (archived == "true"):
            continue
        if db_id is not None and obj.get("database") != db_id:
            continue
        if cred_id is not None and obj.get("credential") != cred_id:
            continue
        if author is not None and author_id(obj) != author:
            continue
        if text and text not in str(obj.get("sql", "")).lower():
            continue
        rec = query_record(req, obj)
        if states and rec["state"] not in states:
            continue
        if exclude:
            rec["resultRows"] = rec["resultColumns"] = None
        rows.append(rec)
    return paginate(
        req,
        shape(req, rows),
        default_limit=20,
        max_limit=50,
        order_keys={
            "created_at": lambda r: (r["createdAt"] or "", r["id"]),
            "started_at": lambda r: (r["startedAt"] or "", r["id"]),
        },
        default_order="created_at",
        default_dir="desc",
    )


# -- CSV exports ---------------------------------------------------------------------------

CSV_EXPORTS = "exports/files/csv"


def _csv_export_executor(req: Request, job: dict[str, Any]):
    source, dest = job["source"], job.get("destination") or {}
    as_script = {
        "sql": source["sql"],
        "remoteHostId": source["remoteHostId"],
        "params": [],
        "arguments": {},
        "csvSettings": {
            "includeHeader": job.get("includeHeader", True),
            "compression": job.get("compression") or "gzip",
            "columnDelimiter": job.get("columnDelimiter") or "comma",
            "forceMultifile": bool(job.get("forceMultifile")),
            "maxFileSize": job.get("maxFileSize"),
            "filenamePrefix": dest.get("filenamePrefix"),
        },
    }
    return _export_executor(req, as_script)


@handles("post", "exports/files/csv")
def create_csv_export(req: Request) -> Reply:
    source = body_get(req, "source")
    if not isinstance(source, dict):
        raise ApiError(400, "source is required: {sql, remoteHostId, credentialId}")
    sql = source.get("sql")
    if not isinstance(sql, str) or not sql.strip():
        raise ApiError(400, "source.sql is required")
    db_id = int_param(source.get("remoteHostId"), "source.remoteHostId")
    if db_id is None:
        raise ApiError(400, "source.remoteHostId is required")
    req.store.objects.get("databases", db_id, req.user)
    cred = int_param(source.get("credentialId"), "source.credentialId")
    if cred is not None:
        req.store.objects.get("credentials", cred, req.user)
    dest = body_get(req, "destination", {}) or {}
    if not isinstance(dest, dict):
        raise ApiError(400, "destination must be an object")
    if dest.get("storagePath"):
        raise ApiError(400, "destination.storagePath is not supported here; results become files")
    settings = {
        "includeHeader": body_get(req, "includeHeader", True),
        "compression": body_get(req, "compression", "gzip"),
        "columnDelimiter": body_get(req, "columnDelimiter", "comma"),
        "forceMultifile": bool(body_get(req, "forceMultifile", False)),
        "maxFileSize": body_get(req, "maxFileSize"),
    }
    try:
        CsvSettings.from_api(dict(settings, filenamePrefix=dest.get("filenamePrefix")))
    except WarehouseError as exc:
        raise ApiError(400, str(exc)) from None
    fields = {
        "name": body_get(req, "name") or "CSV export",
        "source": {"sql": sql, "remoteHostId": db_id, "credentialId": cred},
        "destination": {"filenamePrefix": dest.get("filenamePrefix"), "storagePath": None},
        "hidden": bool(body_get(req, "hidden", False)),
        **settings,
    }
    obj = req.store.objects.create(CSV_EXPORTS, fields, req.user)
    return Reply(shape(req, dict(obj, myPermissionLevel="manage")), status=201)


@handles("get", "exports/files/csv/{id}")
def get_csv_export(req: Request) -> Reply:
    obj = req.store.objects.get(CSV_EXPORTS, req.path_params["id"], req.user)
    perm = req.store.permissions.level(obj, req.user)
    return Reply(shape(req, dict(obj, myPermissionLevel=perm)))


register_job_kind(
    JobKind(
        kind=CSV_EXPORTS,
        job_type="JobTypes::CsvExport",
        parent_key=None,
        executor=_csv_export_executor,
    )
)
