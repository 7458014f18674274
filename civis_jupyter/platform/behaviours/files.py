"""Files: uploads (form POST and multipart), signed downloads, CSV preprocessing.

- ``POST /files`` answers an ``uploadUrl`` and ``uploadFields`` served by the
  platform (see :mod:`civis_jupyter.platform.blobs`);
- ``POST /files/multipart`` answers one presigned PUT URL per part;
  ``POST /files/multipart/{id}/complete`` joins them;
- ``GET /files/{id}`` gives ``fileSize`` and signed, expiring ``fileUrl`` /
  ``downloadUrl`` (``null`` before the upload and after the file expires);
- ``POST /files/preprocess/csv`` is a job: its run inspects the CSV (header,
  delimiter, compression, column names and types) and outputs the file, with
  that ``detectedInfo``, as a ``File`` run output.
"""

from __future__ import annotations

import codecs
import gzip
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

from ..api import ApiError, Reply, Request, handles
from ..blobs import BlobError
from ..runner import RunContext
from ..warehouse import DELIMITERS, WarehouseError
from . import _store as store
from ._common import (
    JobKind,
    base_url,
    body_get,
    int_param,
    register_job_kind,
    shape,
)

__all__ = ["file_record", "new_file", "parse_time"]

FILES = "files"
PREPROCESS = "files/preprocess/csv"
DEFAULT_EXPIRY = timedelta(days=30)
MAX_PARTS = 10000


def parse_time(value: Any, name: str) -> float:
    """Parse an ISO 8601 date or date-time (UTC when no zone) into Unix time.

    Parameters
    ----------
    value : Any
        E.g. ``"2030-12-31"`` or ``"2030-12-31T23:03:40Z"``.
    name : str
        The field, for the error message.

    Returns
    -------
    float

    Raises
    ------
    ApiError
        400 when it is not a date or date-time.
    """
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"{name} must be an ISO 8601 date or date-time")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(
            400, f"{name} must be an ISO 8601 date or date-time, not {value!r}"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _iso(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _expiry(req: Request) -> str | None:
    body = req.body if isinstance(req.body, dict) else {}
    if "expiresAt" in body and body["expiresAt"] is None:
        return None  # kept indefinitely
    if body.get("expiresAt") is None:
        return _iso(time.time() + DEFAULT_EXPIRY.total_seconds())
    return _iso(parse_time(body["expiresAt"], "expiresAt"))


def _name(req: Request) -> str:
    name = body_get(req, "name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "name is required and must be a non-empty string")
    if len(name) > 1024:
        raise ApiError(400, "name must be at most 1024 characters")
    return name


def _description(req: Request) -> str | None:
    description = body_get(req, "description")
    if description is not None and len(str(description)) > 512:
        raise ApiError(400, "description must be at most 512 characters")
    return description


def new_file(
    platform: Any,
    user: dict[str, Any],
    name: str,
    expires_at: str | None = None,
    description: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Create a file object (contents are added separately through the blobs).

    Parameters
    ----------
    platform : object
        The platform.
    user : dict
        Its author.
    name : str
        File name.
    expires_at : str, optional
        ISO expiry time (``None``: never).
    description : str, optional
        Description.
    **fields
        Extra stored fields (``detectedInfo``, ...).

    Returns
    -------
    dict
        The stored file.
    """
    return store.create(
        platform,
        user,
        FILES,
        {"name": name, "expiresAt": expires_at, "description": description, **fields},
    )


def _expired(obj: dict[str, Any]) -> bool:
    expires = obj.get("expiresAt")
    return bool(expires) and parse_time(expires, "expiresAt") < time.time()


def file_record(req: Request, obj: dict[str, Any]) -> dict[str, Any]:
    """A file as ``GET /files/{id}`` shows it, with fresh signed links."""
    blobs = req.platform.blobs
    out = dict(obj)
    out["fileSize"] = blobs.size(obj["id"])
    out["author"] = store.author(req.platform, obj)
    out["myPermissionLevel"] = store.permission(req.platform, req.user, obj)
    if out["fileSize"] is None or _expired(obj):
        out["fileUrl"] = out["downloadUrl"] = None
        return out
    link_expiry = req.query.get("link_expires_at")
    deadline = parse_time(link_expiry, "link_expires_at") if link_expiry else None
    inline = str(req.query.get("inline", "")).lower() in ("true", "1")
    if deadline is None:
        deadline = time.time() + 3600
    out["downloadUrl"] = blobs.download_url(base_url(req), obj["id"], obj["name"], deadline)
    out["fileUrl"] = blobs.download_url(
        base_url(req), obj["id"], obj["name"], deadline, inline=inline
    )
    return out


@handles("post", "files")
def create_file(req: Request) -> Reply:
    obj = new_file(req.platform, req.user, _name(req), _expiry(req), _description(req))
    url, fields = req.platform.blobs.upload_form(base_url(req), obj["id"])
    out = dict(obj, uploadUrl=url, uploadFields=fields, fileSize=None)
    out["myPermissionLevel"] = "manage"
    return Reply(shape(req, out), status=201)


@handles("get", "files/{id}")
def get_file(req: Request) -> Reply:
    obj = store.fetch(req.platform, req.user, FILES, req.path_params["id"])
    return Reply(shape(req, file_record(req, obj)))


@handles("post", "files/multipart")
def create_multipart(req: Request) -> Reply:
    num_parts = int_param(body_get(req, "numParts"), "numParts")
    if num_parts is None or not 1 <= num_parts <= MAX_PARTS:
        raise ApiError(400, f"numParts must be an integer from 1 to {MAX_PARTS}")
    obj = new_file(
        req.platform,
        req.user,
        _name(req),
        _expiry(req),
        _description(req),
        numParts=num_parts,
    )
    urls = req.platform.blobs.part_urls(base_url(req), obj["id"], num_parts)
    return Reply(shape(req, dict(obj, uploadUrls=urls, fileSize=None)), status=201)


@handles("post", "files/multipart/{id}/complete")
def complete_multipart(req: Request) -> Reply:
    obj = store.fetch(req.platform, req.user, FILES, req.path_params["id"], level="write")
    num_parts = obj.get("numParts")
    if not num_parts:
        raise ApiError(400, f"file {obj['id']} is not a multipart upload")
    blobs = req.platform.blobs
    if blobs.exists(obj["id"]) and not blobs.part_path(obj["id"], 0).exists():
        return Reply(status=204)  # already completed
    try:
        blobs.complete_multipart(obj["id"], num_parts)
    except BlobError as exc:
        raise ApiError(400, str(exc)) from None
    return Reply(status=204)


# -- CSV preprocessing -------------------------------------------------------------


def _open_maybe_gzip(path: Path, mode: str = "rb") -> IO[bytes]:
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, mode) if gz else open(path, mode)


def is_utf8(path: Path) -> bool:
    """Whether a (possibly gzip) file decodes as UTF-8, read in chunks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with _open_maybe_gzip(path) as f:
            while chunk := f.read(2**20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def transcode_to_utf8(source: Path, target: Path, encoding: str = "cp1252") -> None:
    """Re-encode a (possibly gzip) text file as UTF-8, keeping its compression."""
    with open(source, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    with (
        _open_maybe_gzip(source) as src,
        gzip.open(target, "wb", compresslevel=1) if gz else open(target, "wb") as dst,
    ):
        while chunk := src.read(2**20):
            dst.write(decoder.decode(chunk).encode("utf-8"))
        dst.write(decoder.decode(b"", final=True).encode("utf-8"))


def _preprocess_executor(req: Request, job: dict[str, Any]):
    platform, user = req.platform, req.user

    def run(ctx: RunContext) -> None:
        source = store.fetch(platform, user, FILES, job["fileId"])
        path = platform.blobs.path(source["id"])
        if not path.is_file():
            raise RuntimeError(f"file {source['id']} has no contents (was it uploaded?)")
        converted = None
        if not is_utf8(path):
            if not job.get("forceCharacterSetConversion"):
                raise RuntimeError(
                    f"file {source['id']} is not UTF-8; set forceCharacterSetConversion "
                    "to convert it (from Windows-1252)"
                )
            ctx.run_dir.mkdir(parents=True, exist_ok=True)
            converted = ctx.run_dir / "converted"
            transcode_to_utf8(path, converted)
            ctx.log("Converted the file from Windows-1252 to UTF-8.")
        wh = platform.warehouses.get(store.default_database_id(platform))
        delimiter = job.get("columnDelimiter")
        try:
            info = wh.detect_csv(converted or path, job.get("includeHeader"), delimiter)
        except WarehouseError as exc:
            raise RuntimeError(str(exc)) from None
        detected = info.to_api()
        ctx.log(
            f"Detected {len(detected['tableColumns'])} columns, header="
            f"{detected['includeHeader']}, delimiter={detected['columnDelimiter']}, "
            f"compression={detected['compression']}"
        )
        if job.get("inPlace", True):
            target = store.update(platform, user, FILES, source["id"], {"detectedInfo": detected})
        else:
            target = new_file(
                platform,
                user,
                source["name"],
                source.get("expiresAt"),
                source.get("description"),
                detectedInfo=detected,
            )
        if converted is not None:
            platform.blobs.import_path(target["id"], converted)
        elif target["id"] != source["id"]:
            platform.blobs.link(source["id"], target["id"])
        ctx.add_output("File", target["id"], name=target["name"])

    return run


@handles("post", "files/preprocess/csv")
def create_preprocess(req: Request) -> Reply:
    file_id = int_param(body_get(req, "fileId"), "fileId")
    if file_id is None:
        raise ApiError(400, "fileId is required")
    store.fetch(req.platform, req.user, FILES, file_id)
    delimiter = body_get(req, "columnDelimiter")
    if delimiter is not None and delimiter not in DELIMITERS:
        raise ApiError(400, "columnDelimiter must be comma, tab or pipe")
    include_header = body_get(req, "includeHeader")
    fields = {
        "name": f"CSV preprocess of file {file_id}",
        "fileId": file_id,
        "inPlace": bool(body_get(req, "inPlace", True)),
        "detectTableColumns": bool(body_get(req, "detectTableColumns", False)),
        "forceCharacterSetConversion": bool(body_get(req, "forceCharacterSetConversion", False)),
        "includeHeader": None if include_header is None else bool(include_header),
        "columnDelimiter": delimiter,
        "hidden": bool(body_get(req, "hidden", False)),
    }
    obj = store.create(req.platform, req.user, PREPROCESS, fields)
    return Reply(shape(req, obj), status=201)


@handles("get", "files/preprocess/csv/{id}")
def get_preprocess(req: Request) -> Reply:
    obj = store.fetch(req.platform, req.user, PREPROCESS, req.path_params["id"])
    return Reply(shape(req, obj))


register_job_kind(
    JobKind(
        kind=PREPROCESS,
        job_type="JobTypes::CsvPreprocess",
        parent_key=None,
        executor=_preprocess_executor,
    )
)
