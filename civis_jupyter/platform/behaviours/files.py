"""Files: uploads (form POST and multipart), signed downloads, CSV preprocessing.

- ``POST /files`` answers an ``uploadUrl`` and ``uploadFields`` served by the
  platform (see :mod:`civis_jupyter.platform.blobs`);
- ``POST /files/multipart`` answers one presigned PUT URL per part;
  ``POST /files/multipart/{id}/complete`` joins them;
- ``GET /files/{id}`` gives ``fileSize`` and signed, expiring ``fileUrl`` /
  ``downloadUrl`` (``null`` before the upload and after the file expires);
  ``link_expires_at`` must lie between now and 36 hours from now (400
  otherwise; 30 minutes by default), as on Civis;
- a file's contents are written once: reusing its upload form, sending parts
  after completion or completing twice is refused (403, 404, 409), and two
  concurrent completions cannot both win;
- once a file's ``expiresAt`` passes its links stop working and its bytes
  are deleted; bytes uploaded to an expired file are dropped (see
  :class:`~civis_jupyter.platform.blobs.Blobs`);
- ``PUT``/``PATCH /files/{id}`` change its name, description and expiry;
- ``POST /files/preprocess/csv`` is a job: its run inspects the CSV (header,
  delimiter, compression, column names and types) and outputs the file, with
  that ``detectedInfo``, as a ``File`` run output.
"""

from __future__ import annotations

import codecs
import gzip
import io
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..blobs import MAX_LINK_SECONDS, BlobConflict, BlobError
from ..clock import iso_time
from ..contract import ApiError, Reply, Request, Services, handles
from ..runner import RunContext
from ..warehouse import DELIMITERS, WarehouseError
from ._common import (
    JobKind,
    base_url,
    body_get,
    register_job_kind,
    shape,
)

__all__ = ["file_record", "new_file", "parse_time"]

FILES = "files"
PREPROCESS = "files/preprocess/csv"
DEFAULT_EXPIRY = timedelta(days=30)
#: Life of a download link when ``link_expires_at`` is not given (as on Civis).
DEFAULT_LINK_SECONDS = 30 * 60
#: Slack allowed past the 36 hours for clock skew between client and platform.
LINK_SKEW_SECONDS = 60
MAX_PARTS = 10000
MAX_NAME = 1024
MAX_DESCRIPTION = 512


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
    try:
        ts = parsed.timestamp()
        iso_time(ts)  # representable both ways
    except (OverflowError, ValueError, OSError):
        raise ApiError(400, f"{name} is out of range: {value!r}") from None
    return ts


def _body(req: Request) -> dict[str, Any]:
    if req.body is None:
        return {}
    if not isinstance(req.body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return req.body


def _expiry(req: Request) -> str | None:
    body = _body(req)
    if "expiresAt" in body and body["expiresAt"] is None:
        return None  # kept indefinitely
    if body.get("expiresAt") is None:
        return iso_time(time.time() + DEFAULT_EXPIRY.total_seconds())
    return iso_time(parse_time(body["expiresAt"], "expiresAt"))


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "name is required and must be a non-empty string")
    if len(name) > MAX_NAME:
        raise ApiError(400, f"name must be at most {MAX_NAME} characters")
    return name


def _name(req: Request) -> str:
    return _check_name(_body(req).get("name"))


def _check_description(description: Any) -> str | None:
    if description is not None and not isinstance(description, str):
        raise ApiError(400, "description must be a string")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise ApiError(400, f"description must be at most {MAX_DESCRIPTION} characters")
    return description


def _description(req: Request) -> str | None:
    return _check_description(_body(req).get("description"))


def _expires_ts(obj: dict[str, Any]) -> float | None:
    """A stored file's expiry as Unix time (``None``: never, or unreadable)."""
    try:
        return parse_time(obj.get("expiresAt"), "expiresAt") if obj.get("expiresAt") else None
    except ApiError:
        return None


def _sync_expiry(platform: Services, obj: dict[str, Any]) -> bool:
    """Tell the blobs when the file expires; delete its bytes if it has."""
    platform.blobs.set_expiry(obj["id"], _expires_ts(obj))
    return platform.blobs.expire_if_due(obj["id"])


def new_file(
    platform: Services,
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
    obj = platform.store.objects.create(
        FILES, {"name": name, "expiresAt": expires_at, "description": description, **fields}, user
    )
    platform.blobs.set_expiry(obj["id"], _expires_ts(obj))
    return obj


def link_deadline(value: Any, now: float | None = None) -> float:
    """When a download link asked for with ``link_expires_at`` expires.

    Parameters
    ----------
    value : Any
        The query parameter (``None`` or empty: 30 minutes from now).
    now : float, optional
        Unix time (default: now).

    Returns
    -------
    float
        Unix time, between now and 36 hours from now.

    Raises
    ------
    ApiError
        400 when it is not a date-time, is past, or is more than 36 hours away
        (a minute of clock skew is allowed and capped).
    """
    now = time.time() if now is None else now
    if value is None or value == "":
        return now + DEFAULT_LINK_SECONDS
    deadline = parse_time(value, "link_expires_at")
    if deadline <= now:
        raise ApiError(400, "link_expires_at must be in the future (at most 36 hours from now)")
    if deadline > now + MAX_LINK_SECONDS + LINK_SKEW_SECONDS:
        raise ApiError(400, "link_expires_at must be at most 36 hours from now")
    return min(deadline, now + MAX_LINK_SECONDS)


def file_record(req: Request, obj: dict[str, Any]) -> dict[str, Any]:
    """A file as ``GET /files/{id}`` shows it, with fresh signed links."""
    blobs = req.blobs
    expired = _sync_expiry(req.platform, obj)
    deadline = link_deadline(req.query.get("link_expires_at"))
    out = dict(obj)
    out["fileSize"] = blobs.size(obj["id"])
    out["author"] = req.store.objects.author(obj)
    out["myPermissionLevel"] = req.store.permissions.level(obj, req.user)
    if out["fileSize"] is None or expired:
        out["fileUrl"] = out["downloadUrl"] = None
        return out
    inline = str(req.query.get("inline", "")).lower() in ("true", "1")
    out["downloadUrl"] = blobs.download_url(base_url(req), obj["id"], obj["name"], deadline)
    out["fileUrl"] = blobs.download_url(
        base_url(req), obj["id"], obj["name"], deadline, inline=inline
    )
    return out


@handles("post", "files")
def create_file(req: Request) -> Reply:
    obj = new_file(req.platform, req.user, _name(req), _expiry(req), _description(req))
    url, fields = req.blobs.upload_form(base_url(req), obj["id"])
    out = dict(obj, uploadUrl=url, uploadFields=fields, fileSize=None)
    out["myPermissionLevel"] = "manage"
    return Reply(shape(req, out), status=201)


def _path_id(req: Request, name: str = "id") -> int:
    """A path id; ids that cannot name an object are 404."""
    value = req.path_params.get(name)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise ApiError(404, f"file {value!r} not found", "not_found")
    return value


def _body_id(value: Any, name: str) -> int | None:
    """An id in a body: an integer (or a string of ASCII digits), else 400."""
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"{name} must be an integer id, not {value!r}")
    return value


@handles("get", "files/{id}")
def get_file(req: Request) -> Reply:
    obj = req.store.objects.get(FILES, _path_id(req), req.user)
    return Reply(shape(req, file_record(req, obj)))


def _changes(req: Request, replace: bool) -> dict[str, Any]:
    """The fields a PUT (all of name and expiresAt needed) or PATCH changes."""
    body = _body(req)
    if replace:
        missing = [k for k in ("name", "expiresAt") if k not in body]
        if missing:
            raise ApiError(400, f"{' and '.join(missing)} required")
    fields: dict[str, Any] = {}
    if "name" in body:
        fields["name"] = _check_name(body["name"])
    if "expiresAt" in body:
        value = body["expiresAt"]
        fields["expiresAt"] = None if value is None else iso_time(parse_time(value, "expiresAt"))
    if "description" in body:
        fields["description"] = _check_description(body["description"])
    return fields


def _update_file(req: Request, replace: bool) -> Reply:
    file_id = _path_id(req)
    req.store.objects.get(FILES, file_id, req.user, level="write")
    fields = _changes(req, replace)
    obj = req.store.objects.update(FILES, file_id, fields, req.user)
    return Reply(shape(req, file_record(req, obj)))


@handles("put", "files/{id}")
def put_file(req: Request) -> Reply:
    return _update_file(req, replace=True)


@handles("patch", "files/{id}")
def patch_file(req: Request) -> Reply:
    return _update_file(req, replace=False)


@handles("post", "files/multipart")
def create_multipart(req: Request) -> Reply:
    num_parts = _body(req).get("numParts")
    if isinstance(num_parts, str) and num_parts.isascii() and num_parts.strip().isdigit():
        num_parts = int(num_parts)
    if isinstance(num_parts, bool) or not isinstance(num_parts, int):
        raise ApiError(400, f"numParts must be an integer from 1 to {MAX_PARTS}")
    if not 1 <= num_parts <= MAX_PARTS:
        raise ApiError(400, f"numParts must be an integer from 1 to {MAX_PARTS}")
    obj = new_file(
        req.platform,
        req.user,
        _name(req),
        _expiry(req),
        _description(req),
        numParts=num_parts,
    )
    urls = req.blobs.part_urls(base_url(req), obj["id"], num_parts)
    return Reply(shape(req, dict(obj, uploadUrls=urls, fileSize=None)), status=201)


@handles("post", "files/multipart/{id}/complete")
def complete_multipart(req: Request) -> Reply:
    """Join the parts, once: a second (or concurrent losing) completion is 409."""
    obj = req.store.objects.get(FILES, _path_id(req), req.user, level="write")
    num_parts = obj.get("numParts")
    if not isinstance(num_parts, int) or isinstance(num_parts, bool) or num_parts < 1:
        raise ApiError(400, f"file {obj['id']} is not a multipart upload")
    _sync_expiry(req.platform, obj)  # an expired file's parts are dropped
    try:
        req.blobs.complete_multipart(obj["id"], num_parts)
    except BlobConflict:
        raise ApiError(
            409, f"file {obj['id']} is already complete; its contents cannot change"
        ) from None
    except BlobError as exc:
        raise ApiError(400, str(exc)) from None
    return Reply(status=204)


# -- CSV preprocessing -------------------------------------------------------------


def _open_maybe_gzip(path: Path) -> io.BufferedIOBase:
    """Open a file for reading its bytes, gunzipped when it is gzip-compressed."""
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


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
        source = platform.store.objects.get(FILES, job["fileId"], user)
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
        wh = platform.warehouses.get(platform.default_database_id)
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
            target = platform.store.objects.update(
                FILES, source["id"], {"detectedInfo": detected}, user
            )
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
    file_id = _body_id(_body(req).get("fileId"), "fileId")
    if file_id is None:
        raise ApiError(400, "fileId is required")
    req.store.objects.get(FILES, file_id, req.user)
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
    obj = req.store.objects.create(PREPROCESS, fields, req.user)
    return Reply(shape(req, obj), status=201)


@handles("get", "files/preprocess/csv/{id}")
def get_preprocess(req: Request) -> Reply:
    obj = req.store.objects.get(PREPROCESS, req.path_params["id"], req.user)
    return Reply(shape(req, obj))


register_job_kind(
    JobKind(
        kind=PREPROCESS,
        job_type="JobTypes::CsvPreprocess",
        parent_key=None,
        executor=_preprocess_executor,
    )
)
