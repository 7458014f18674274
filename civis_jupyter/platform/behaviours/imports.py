"""CSV imports: ``/imports/files/csv`` jobs that load platform files into a table.

A run loads every source file (``source.fileIds``) with the import's header,
delimiter, quoting, compression and ``existingTableRows`` settings into
``destination.schema.table`` of ``destination.remoteHostId``, creating the
table from ``tableColumns`` (or from the first file) when needed, in one
transaction: a failed import leaves the table as it was.
"""

from __future__ import annotations

from typing import Any

from ..contract import ApiError, Reply, Request, handles
from ..runner import RunContext
from ..warehouse import DELIMITERS, Column, WarehouseError
from ._common import JobKind, body_get, ids_of, int_param, register_job_kind, shape

__all__: list[str] = []

CSV_IMPORTS = "imports/files/csv"
_EXISTING = ("fail", "truncate", "append", "drop", "upsert")


def _source(req: Request) -> dict[str, Any]:
    source = body_get(req, "source")
    if not isinstance(source, dict):
        raise ApiError(400, "source is required: {fileIds: [...]}")
    if source.get("storagePath"):
        raise ApiError(
            400, "source.storagePath is not supported here; upload the files and use fileIds"
        )
    file_ids = source.get("fileIds")
    if not isinstance(file_ids, list) or not file_ids:
        raise ApiError(400, "source.fileIds must be a non-empty list of file ids")
    ids = ids_of(file_ids)
    for fid in ids:
        req.store.objects.get("files", fid, req.user)
    return {"fileIds": ids, "storagePath": None}


def _destination(req: Request) -> dict[str, Any]:
    dest = body_get(req, "destination")
    if not isinstance(dest, dict):
        raise ApiError(400, "destination is required")
    for key in ("schema", "table"):
        if not isinstance(dest.get(key), str) or not dest[key].strip():
            raise ApiError(400, f"destination.{key} is required")
    db_id = int_param(dest.get("remoteHostId"), "destination.remoteHostId")
    if db_id is None:
        raise ApiError(400, "destination.remoteHostId is required")
    req.store.objects.get("databases", db_id, req.user)
    cred = int_param(dest.get("credentialId"), "destination.credentialId")
    if cred is None:
        raise ApiError(400, "destination.credentialId is required")
    req.store.objects.get("credentials", cred, req.user)
    return {
        "schema": dest["schema"],
        "table": dest["table"],
        "remoteHostId": db_id,
        "credentialId": cred,
        "primaryKeys": dest.get("primaryKeys") or [],
        "lastModifiedKeys": dest.get("lastModifiedKeys") or [],
    }


def _table_columns(req: Request) -> list[dict[str, Any]]:
    cols = body_get(req, "tableColumns", []) or []
    if not isinstance(cols, list):
        raise ApiError(400, "tableColumns must be a list of {name, sqlType}")
    out = []
    for c in cols:
        if not isinstance(c, dict) or not c.get("name"):
            raise ApiError(400, "each of tableColumns needs a name")
        out.append({"name": c["name"], "sqlType": c.get("sqlType")})
    typed = sum(1 for c in out if c["sqlType"])
    if typed not in (0, len(out)):
        raise ApiError(400, "tableColumns must give a sqlType for every column or none")
    return out


def _import_executor(req: Request, job: dict[str, Any]):
    platform, user = req.platform, req.user

    def run(ctx: RunContext) -> None:
        dest = job["destination"]
        paths = []
        for fid in job["source"]["fileIds"]:
            platform.store.objects.get("files", fid, user)
            path = platform.blobs.path(fid)
            if not path.is_file():
                raise RuntimeError(f"file {fid} has no contents (was it uploaded?)")
            paths.append(path)
        cols = job.get("tableColumns") or []
        columns = [Column(c["name"], c["sqlType"]) for c in cols if c.get("sqlType")]
        wh = platform.warehouses.get(dest["remoteHostId"])
        try:
            n = wh.load_csv(
                paths,
                dest["schema"],
                dest["table"],
                include_header=bool(job.get("firstRowIsHeader")),
                column_delimiter=job.get("columnDelimiter") or "comma",
                compression=job.get("compression"),
                escaped=bool(job.get("escaped")),
                existing_table_rows=job.get("existingTableRows") or "fail",
                table_columns=columns or None,
                primary_keys=dest.get("primaryKeys") or None,
            )
        except WarehouseError as exc:
            raise RuntimeError(str(exc)) from None
        ctx.log(f"Loaded {n} rows into {dest['schema']}.{dest['table']}.")
        tid = platform.store.tables.table_id(dest["remoteHostId"], dest["schema"], dest["table"])
        ctx.add_output("Table", tid, name=f"{dest['schema']}.{dest['table']}")

    return run


def import_record(req: Request, obj: dict[str, Any]) -> dict[str, Any]:
    """A CSV import as the API shows it."""
    return dict(
        obj,
        myPermissionLevel=req.store.permissions.level(obj, req.user),
    )


@handles("post", "imports/files/csv")
def create_csv_import(req: Request) -> Reply:
    header = body_get(req, "firstRowIsHeader")
    if header is None:
        raise ApiError(400, "firstRowIsHeader is required")
    delimiter = body_get(req, "columnDelimiter", "comma")
    if delimiter not in DELIMITERS:
        raise ApiError(400, "columnDelimiter must be comma, tab or pipe")
    compression = body_get(req, "compression", "none")
    if compression not in ("gzip", "none"):
        raise ApiError(400, "compression must be gzip or none")
    existing = body_get(req, "existingTableRows", "fail")
    if existing not in _EXISTING:
        raise ApiError(400, f"existingTableRows must be one of {', '.join(_EXISTING)}")
    dest = _destination(req)
    if existing == "upsert" and not dest["primaryKeys"]:
        raise ApiError(400, "existingTableRows=upsert needs destination.primaryKeys")
    fields = {
        "name": body_get(req, "name") or f"CSV import to {dest['schema']}.{dest['table']}",
        "source": _source(req),
        "destination": dest,
        "firstRowIsHeader": bool(header),
        "columnDelimiter": delimiter,
        "escaped": bool(body_get(req, "escaped", False)),
        "compression": compression,
        "existingTableRows": existing,
        "maxErrors": body_get(req, "maxErrors"),
        "tableColumns": _table_columns(req),
        "loosenTypes": bool(body_get(req, "loosenTypes", False)),
        "execution": body_get(req, "execution", "immediate"),
        "redshiftDestinationOptions": body_get(req, "redshiftDestinationOptions", {}),
        "hidden": bool(body_get(req, "hidden", False)),
    }
    obj = req.store.objects.create(CSV_IMPORTS, fields, req.user)
    return Reply(shape(req, import_record(req, obj)), status=201)


@handles("get", "imports/files/csv/{id}")
def get_csv_import(req: Request) -> Reply:
    obj = req.store.objects.get(CSV_IMPORTS, req.path_params["id"], req.user)
    return Reply(shape(req, import_record(req, obj)))


register_job_kind(
    JobKind(
        kind=CSV_IMPORTS,
        job_type="JobTypes::CsvImport",
        parent_key="csvImportId",
        executor=_import_executor,
    )
)
