"""Database-to-database imports (``syncType: Dbsync``): copy tables between databases.

- ``POST /imports`` with ``syncType: "Dbsync"`` makes an import job whose
  ``source`` and ``destination`` name two of the platform's databases (each a
  ``remoteHostId`` the user can see, with a ``credentialId``; a run without
  them fails); other sync types are stored as before and their runs fail,
  not executed here.
- ``POST /imports/{id}/syncs`` adds a sync: ``source.path`` and
  ``destination.path`` are ``schema.table``; ``advancedOptions`` may say
  ``existingTableRows`` (``fail`` by default, ``truncate``, ``append`` or
  ``drop``) and ``wipeDestinationTable``. Other advanced options are kept and
  shown but change nothing here.
- ``POST /imports/{id}/runs`` answers ``{"runId": ...}``; the run copies each
  sync's table, streamed as Arrow batches from one warehouse to the other,
  in one transaction per table, and adds each destination table to the run's
  outputs. Runs are followed on ``/imports/{id}/runs/...``, ``/jobs/...`` and,
  as the official client does, ``/imports/files/{id}/runs/{run_id}``.
"""

from __future__ import annotations

from typing import Any

from ...api.naming import split_schema_tablename
from ..contract import ApiError, Reply, Request, Services, handler_for, handles
from ..runner import AlreadyRunning, RunContext
from ..warehouse import quote_identifier
from . import jobs as _jobs  # noqa: F401  (its run routes and job kinds first, then ours)
from ._common import JOB_KINDS, JobKind, body_get, int_param, register_job_kind, shape

__all__ = ["EXISTING_TABLE_ROWS"]

IMPORTS = "imports"
DBSYNC = "Dbsync"
EXISTING_TABLE_ROWS = ("fail", "truncate", "append", "drop")
#: Rows per Arrow batch streamed between warehouses.
BATCH_ROWS = 65536


def _endpoint(req: Request, key: str) -> dict[str, Any] | None:
    value = body_get(req, key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ApiError(400, f"{key} must be an object: {{remoteHostId, credentialId}}")
    db_id = int_param(value.get("remoteHostId"), f"{key}.remoteHostId")
    cred_id = int_param(value.get("credentialId"), f"{key}.credentialId")
    if db_id is None or cred_id is None:
        raise ApiError(400, f"{key}.remoteHostId and {key}.credentialId are required")
    database = req.store.objects.get("databases", db_id, req.user)
    req.store.objects.get("credentials", cred_id, req.user)
    return {
        "remoteHostId": db_id,
        "credentialId": cred_id,
        "additionalCredentials": value.get("additionalCredentials") or [],
        "name": database.get("name"),
    }


def _import_view(req: Request, obj: dict[str, Any]) -> dict[str, Any]:
    return dict(obj, myPermissionLevel=req.store.permissions.level(obj, req.user))


_generic_create = handler_for("post", "imports")


@handles("post", "imports")
def create_import(req: Request) -> Reply:
    if body_get(req, "syncType") != DBSYNC:
        if _generic_create is not None:
            return _generic_create(req)
        from ..generic import handle

        return handle(req)
    name = body_get(req, "name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "name is required")
    fields = {
        "name": name,
        "syncType": DBSYNC,
        "isOutbound": bool(body_get(req, "isOutbound", True)),
        "source": _endpoint(req, "source"),
        "destination": _endpoint(req, "destination"),
        "syncs": [],
        "parentId": body_get(req, "parentId"),
        "schedule": body_get(req, "schedule"),
        "notifications": body_get(req, "notifications"),
        "timeZone": body_get(req, "timeZone"),
        "nextRunAt": body_get(req, "nextRunAt"),
        "hidden": bool(body_get(req, "hidden", False)),
        "archived": False,
        "jobType": "JobTypes::Import",
    }
    obj = req.store.objects.create(IMPORTS, fields, req.user)
    return Reply(shape(req, _import_view(req, obj)))


def _path(value: Any, key: str) -> str:
    path = value.get("path") if isinstance(value, dict) else None
    if not isinstance(path, str) or not path.strip():
        raise ApiError(400, f"{key}.path is required: 'schema.table'")
    schema, table = split_schema_tablename(path)
    if not schema or not table:
        raise ApiError(400, f"{key}.path must be 'schema.table', not {path!r}")
    return path


@handles("post", "imports/{id}/syncs")
def create_sync(req: Request) -> Reply:
    job = req.store.objects.get(IMPORTS, req.path_params["id"], req.user, level="write")
    options = body_get(req, "advancedOptions") or {}
    if not isinstance(options, dict):
        raise ApiError(400, "advancedOptions must be an object")
    existing = options.get("existingTableRows", "fail")
    if job.get("syncType") == DBSYNC and existing not in EXISTING_TABLE_ROWS:
        raise ApiError(
            400,
            f"advancedOptions.existingTableRows must be one of {', '.join(EXISTING_TABLE_ROWS)}"
            f" for Dbsync imports, not {existing!r}",
        )
    syncs = list(job.get("syncs") or [])
    sync = {
        "id": max((s["id"] for s in syncs), default=0) + 1,
        "source": {"path": _path(body_get(req, "source"), "source")},
        "destination": {"path": _path(body_get(req, "destination"), "destination")},
        "advancedOptions": options,
    }
    req.store.objects.write_raw(job["id"], {"syncs": [*syncs, sync]})
    return Reply(shape(req, sync))


# -- runs ---------------------------------------------------------------------------------


def _qualified(path: str) -> tuple[str, str, str]:
    schema, table = split_schema_tablename(path)
    assert schema is not None
    return schema, table, f"{quote_identifier(schema)}.{quote_identifier(table)}"


def _copy(platform: Services, job: dict[str, Any], sync: dict[str, Any]) -> tuple[int, str, str]:
    """Copy one sync's table; returns the destination's (database, schema, table)."""
    src_db = job["source"]["remoteHostId"]
    dst_db = job["destination"]["remoteHostId"]
    s_schema, s_table, source = _qualified(sync["source"]["path"])
    d_schema, d_table, target = _qualified(sync["destination"]["path"])
    options = sync.get("advancedOptions") or {}
    existing = "truncate" if options.get("wipeDestinationTable") else None
    existing = existing or options.get("existingTableRows") or "fail"
    src_wh = platform.warehouses.get(src_db)
    dst_wh = platform.warehouses.get(dst_db)
    if src_wh.table(s_schema, s_table) is None:
        raise RuntimeError(f"source table {sync['source']['path']} does not exist")
    there = dst_wh.table(d_schema, d_table) is not None
    if there and existing == "fail":
        raise RuntimeError(
            f"destination table {sync['destination']['path']} exists; set "
            "existing_table_rows to 'truncate', 'append' or 'drop'"
        )
    with src_wh.cursor() as read, dst_wh.cursor() as write:
        rows: Any = read.sql(f"SELECT * FROM {source}").to_arrow_reader(BATCH_ROWS)
        write.register("civis_dbsync_source", rows)
        try:
            write.execute("BEGIN TRANSACTION")
            write.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(d_schema)}")
            if there and existing == "drop":
                write.execute(f"DROP TABLE {target}")
            if there and existing == "truncate":
                write.execute(f"DELETE FROM {target}")
            if there and existing in ("truncate", "append"):
                write.execute(f"INSERT INTO {target} SELECT * FROM civis_dbsync_source")
            else:
                write.execute(f"CREATE TABLE {target} AS SELECT * FROM civis_dbsync_source")
            write.execute("COMMIT")
        except BaseException:
            write.execute("ROLLBACK")
            raise
        finally:
            write.unregister("civis_dbsync_source")
    return dst_db, d_schema, d_table


def _import_executor(req: Request, job: dict[str, Any]):
    platform, user = req.platform, req.user
    sync_type = job.get("syncType")

    def run(ctx: RunContext) -> None:
        if sync_type != DBSYNC:
            raise RuntimeError(
                f"the local platform does not execute imports runs of syncType {sync_type!r}"
            )
        for key in ("source", "destination"):
            if not job.get(key):
                raise RuntimeError(
                    f"the Dbsync import has no {key} database: set it with imports.put"
                )
        syncs = job.get("syncs") or []
        if not syncs:
            raise RuntimeError("the import has no syncs: add one with imports.post_syncs")
        for key in ("source", "destination"):  # access may have changed since
            platform.store.objects.get("databases", job[key]["remoteHostId"], user)
        for sync in syncs:
            ctx.check()
            try:
                db_id, schema, table = _copy(platform, job, sync)
            except Exception as exc:
                if isinstance(exc, RuntimeError):
                    raise
                raise RuntimeError(f"copying {sync['source']['path']} failed: {exc}") from None
            ctx.log(f"Copied {sync['source']['path']} to {sync['destination']['path']}.")
            tid = platform.store.tables.table_id(db_id, schema, table)
            ctx.add_output("Table", tid, name=f"{schema}.{table}")

    return run


register_job_kind(JobKind(IMPORTS, "JobTypes::Import", "importId", _import_executor))


@handles("post", "imports/{id}/runs")
def start_import_run(req: Request) -> Reply:
    job = req.store.objects.get(IMPORTS, req.path_params["id"], req.user, level="write")
    kind = JOB_KINDS[IMPORTS]
    try:
        run = req.platform.runner.start(
            job["id"], IMPORTS, kind.executor(req, job), user_id=req.user["id"]
        )
    except AlreadyRunning as exc:
        raise ApiError(
            409, f"import {exc.job_id} is already running (run {exc.run_id})", "already_running"
        ) from None
    return Reply(shape(req, {"runId": run["id"]}))


_files_run = handler_for("get", "imports/files/{id}/runs/{run_id}")


@handles("get", "imports/files/{id}/runs/{run_id}")
def get_files_run(req: Request) -> Reply:
    """A run of a file import, or (as the official client polls them) of any import."""
    job_id = req.path_params["id"]
    if req.platform.store.objects.kind_of(int(job_id)) != IMPORTS:
        assert _files_run is not None
        return _files_run(req)
    job = req.store.objects.get(IMPORTS, job_id, req.user)
    run = req.platform.runner.get(int(req.path_params["run_id"]))
    if run is None or run["jobId"] != job["id"]:
        raise ApiError(404, f"run {req.path_params['run_id']} of import {job_id} not found")
    return Reply(shape(req, dict(run, importId=job["id"])))
