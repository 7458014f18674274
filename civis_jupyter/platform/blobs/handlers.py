"""The tornado routes that serve upload, part and download URLs.

- ``POST /_blobs/upload/{id}``: an S3-style form upload (streamed through
  python-multipart's parser, the file part straight to disk);
- ``PUT /_blobs/parts/{id}/{part}``: one part of a multipart upload;
- ``GET``/``HEAD /_blobs/files/{id}/{name}``: a signed download, served by
  tornado's :class:`~tornado.web.StaticFileHandler` (``Range`` requests,
  ``ETag``/``If-None-Match``, ``Last-Modified``/``If-Modified-Since``, and
  caching for as long as the link lives).

Expired, forged or used-up URLs answer 403 (or 404) with an S3-style XML
error body.
"""

from __future__ import annotations

import mimetypes
import os
import time
import urllib.parse
from collections.abc import Callable
from datetime import datetime
from typing import IO, Any
from xml.sax.saxutils import escape

import tornado.web
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from tornado.http1connection import HTTP1Connection
from tornado.httputil import HTTPServerRequest

from ..clock import iso_time
from . import Blobs
from .signing import BLOB_PREFIX, BlobAccessError
from .storage import BlobError, PendingWrite

__all__ = ["DownloadHandler", "FormReader", "PartHandler", "UploadHandler", "routes"]

#: Largest body accepted for one upload or part (S3's part limit).
MAX_BODY = 5 * 2**30
#: Largest form field other than the file.
MAX_FIELD = 64 * 1024


def _xml_error(code: str, message: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        "</Error>"
    )


class _S3Errors(tornado.web.RequestHandler):
    """Shared bits of the blob routes: S3-style XML errors, no XSRF check."""

    blobs: Blobs

    def check_xsrf_cookie(self) -> None:
        """Presigned URLs carry their own authorisation."""

    def send_s3_error(self, status: int, code: str, message: str) -> None:
        """Answer an S3-style XML error."""
        self.set_status(status)
        self.clear_header("Content-Disposition")
        self.set_header("Content-Type", "application/xml")
        self.finish(_xml_error(code, message))

    def send_denied(self, exc: BlobAccessError) -> None:
        """Answer a refused URL."""
        self.send_s3_error(exc.status, exc.code, exc.message)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        reason = self._reason or "Error"
        self.set_header("Content-Type", "application/xml")
        self.finish(_xml_error(reason.replace(" ", ""), reason))


def _used_policy(exc: BlobError) -> BlobAccessError:
    """The answer to a form upload for a file that is complete."""
    return BlobAccessError(
        "AccessDenied", f"{exc}: this upload policy has been used and cannot be reused"
    )


def _closed_upload(exc: BlobError) -> BlobAccessError:
    """The answer to a part PUT for a file that is complete."""
    return BlobAccessError("NoSuchUpload", f"{exc}: the multipart upload was completed", status=404)


class FormReader:
    """Reads a streamed ``multipart/form-data`` body, writing the file to disk.

    Fields other than ``file`` are collected (at most :data:`MAX_FIELD`
    bytes each); when the ``file`` part begins, ``on_file_start(fields)`` is
    called and returns the binary writer its contents go to (or ``None`` to
    drop them).

    Parameters
    ----------
    boundary : bytes
        The form's boundary.
    on_file_start : callable
        ``fields -> writer or None``.
    """

    def __init__(
        self, boundary: bytes, on_file_start: Callable[[dict[str, str]], IO[bytes] | None]
    ):
        self.fields: dict[str, str] = {}
        self.got_file = False
        self.done = False
        self._on_file_start = on_file_start
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._name: str | None = None
        self._value = bytearray()
        self._sink: IO[bytes] | None = None
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value_data,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
        )

    def feed(self, data: bytes) -> None:
        """Parse the next chunk of the body.

        Raises
        ------
        ValueError
            When the body is not a well-formed form (or a field is too long).
        """
        try:
            self._parser.write(data)
        except MultipartParseError as exc:
            raise ValueError(f"malformed multipart body: {exc}") from None

    def _part_begin(self) -> None:
        self._name = None
        self._value = bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if bytes(self._header_name).strip().lower() == b"content-disposition":
            _kind, options = parse_options_header(bytes(self._header_value))
            self._name = options.get(b"name", b"").decode("utf-8", "replace")
        self._header_name = bytearray()
        self._header_value = bytearray()

    def _headers_finished(self) -> None:
        if self._name == "file":
            self.got_file = True
            self._sink = self._on_file_start(dict(self.fields))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._name == "file":
            if self._sink is not None:
                self._sink.write(data[start:end])
            return
        self._value += data[start:end]
        if len(self._value) > MAX_FIELD:
            raise MultipartParseError(f"form field {self._name!r} is too long")

    def _part_end(self) -> None:
        if self._name is not None and self._name != "file":
            self.fields[self._name] = self._value.decode("utf-8", "replace")
        self._name = None

    def _end(self) -> None:
        self.done = True


def _boundary(content_type: str) -> bytes | None:
    """The boundary of a ``multipart/form-data`` content type, or ``None``."""
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        return None
    return options.get(b"boundary") or None


def _allow_large_body(request: HTTPServerRequest) -> None:
    """Raise the body size cap of the request's HTTP/1 connection to :data:`MAX_BODY`."""
    connection = request.connection
    if isinstance(connection, HTTP1Connection):
        connection.set_max_body_size(MAX_BODY)


@tornado.web.stream_request_body
class UploadHandler(_S3Errors):
    """``POST /_blobs/upload/{id}``: an S3-style form upload of one file (once)."""

    def initialize(self, blobs: Blobs) -> None:
        self.blobs = blobs

    def prepare(self) -> None:
        _allow_large_body(self.request)
        self._file_id = int(self.path_kwargs["file_id"])
        self._denied: BlobAccessError | None = None
        self._pending: PendingWrite | None = None
        boundary = _boundary(self.request.headers.get("Content-Type", ""))
        self._form = FormReader(boundary, self._start_file) if boundary else None

    def _start_file(self, fields: dict[str, str]) -> IO[bytes] | None:
        try:
            self.blobs.signer.check_upload_fields(self._file_id, fields)
            self._pending = self.blobs.open_upload(self._file_id)
        except BlobAccessError as exc:
            self._denied = exc
            return None
        except BlobError as exc:
            self._denied = _used_policy(exc)
            return None
        return self._pending.file

    def data_received(self, chunk: bytes) -> None:
        if self._form is None:
            return
        try:
            self._form.feed(chunk)
        except ValueError as exc:
            self._form = None
            self._abort()
            self._denied = BlobAccessError("MalformedPOSTRequest", str(exc), status=400)

    def _abort(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.abort()

    def post(self, file_id: str) -> None:
        if self._form is None and self._denied is None:
            return self.send_s3_error(
                400, "MalformedPOSTRequest", "expected a multipart/form-data body"
            )
        if self._denied is not None:
            self._abort()
            return self.send_denied(self._denied)
        assert self._form is not None
        if not self._form.got_file or not self._form.done or self._pending is None:
            self._abort()
            return self.send_s3_error(
                400, "MalformedPOSTRequest", "the form has no complete 'file' field"
            )
        pending, self._pending = self._pending, None
        try:
            pending.commit()
        except BlobError as exc:  # another upload of this file won the race
            return self.send_denied(_used_policy(exc))
        self.set_status(204)
        self.finish()

    def on_connection_close(self) -> None:
        self._abort()

    def on_finish(self) -> None:
        self._abort()


@tornado.web.stream_request_body
class PartHandler(_S3Errors):
    """``PUT /_blobs/parts/{id}/{part}?expires=..&signature=..``: one part."""

    def initialize(self, blobs: Blobs) -> None:
        self.blobs = blobs

    def prepare(self) -> None:
        _allow_large_body(self.request)
        self._pending: PendingWrite | None = None
        self._denied: BlobAccessError | None = None
        file_id = int(self.path_kwargs["file_id"])
        part = int(self.path_kwargs["part"])
        try:
            self.blobs.signer.check_part(
                file_id,
                part,
                self.get_query_argument("expires", None),
                self.get_query_argument("signature", None),
            )
            self._pending = self.blobs.open_part(file_id, part)
        except BlobAccessError as exc:
            self._denied = exc
        except BlobError as exc:
            self._denied = _closed_upload(exc)

    def data_received(self, chunk: bytes) -> None:
        if self._pending is not None:
            self._pending.write(chunk)

    def put(self, file_id: str, part: str) -> None:
        if self._denied is not None or self._pending is None:
            denied = self._denied or BlobAccessError("AccessDenied", "Request is not signed")
            return self.send_denied(denied)
        pending, self._pending = self._pending, None
        try:
            pending.commit()
        except BlobError as exc:  # completed while the part was sent
            return self.send_denied(_closed_upload(exc))
        self.set_header("ETag", f'"{file_id}-{part}"')
        self.set_status(200)
        self.finish()

    def _abort(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.abort()

    def on_connection_close(self) -> None:
        self._abort()

    def on_finish(self) -> None:
        self._abort()


class DownloadHandler(tornado.web.StaticFileHandler, _S3Errors):
    """``GET``/``HEAD /_blobs/files/{id}/{name}?...``: a signed, expiring download.

    Tornado's static file serving does the HTTP: ``Range`` (206 with
    ``Content-Range``, 416 outside the file), ``ETag`` and ``Last-Modified``
    with their conditional requests (304), and ``Cache-Control`` for as long
    as the link lives. This class only authorises the URL, names the file
    (``Content-Type`` and ``Content-Disposition`` from the URL's name) and
    finds it on disk.
    """

    def initialize(self, blobs: Blobs) -> None:  # type: ignore[override]
        self.blobs = blobs
        self._name = "file"
        self._disposition = "attachment"
        self._expires = 0
        super().initialize(path=str(blobs.root / "files"))

    async def get(self, file_id: str, name: str, include_body: bool = True) -> None:  # type: ignore[override]
        if self._authorised(int(file_id)):
            self._name = name  # the route gives it URL-decoded
            await super().get(str(int(file_id)), include_body)

    async def head(self, file_id: str, name: str) -> None:  # type: ignore[override]
        await self.get(file_id, name, include_body=False)

    def _authorised(self, file_id: int) -> bool:
        """Check the URL and the file; answer the error and say ``False`` if refused."""
        disposition = self.get_query_argument("disposition", None)
        expires = self.get_query_argument("expires", None)
        try:
            self.blobs.signer.check_download(
                file_id, disposition, expires, self.get_query_argument("signature", None)
            )
        except BlobAccessError as exc:
            self.send_denied(exc)
            return False
        if self.blobs.expire_if_due(file_id):
            when = iso_time(self.blobs.expires_at(file_id) or 0)
            message = f"The file expired at {when}; its contents were deleted"
            self.send_s3_error(404, "NoSuchKey", message)
            return False
        if not self.blobs.exists(file_id):
            self.send_s3_error(404, "NoSuchKey", "The file has no contents")
            return False
        self._disposition = disposition or "attachment"
        self._expires = int(expires or 0)
        return True

    def compute_etag(self) -> str | None:
        """A tag from the file's id, size and modification time (no hashing of contents)."""
        assert self.absolute_path is not None
        stat = os.stat(self.absolute_path)
        return f'"{os.path.basename(self.absolute_path)}-{stat.st_size}-{stat.st_mtime_ns}"'

    def get_content_type(self) -> str:
        """The type the download's name implies (``application/octet-stream`` if none)."""
        if self._name.endswith(".gz"):
            return "application/gzip"
        return mimetypes.guess_type(self._name)[0] or "application/octet-stream"

    def get_cache_time(self, path: str, modified: datetime | None, mime_type: str) -> int:
        """Cacheable for as long as the link lives."""
        return max(0, self._expires - int(time.time()))

    def set_extra_headers(self, path: str) -> None:
        """Name the download; a signed link is for its holder only."""
        quoted = urllib.parse.quote(self._name, safe="")
        self.set_header("Content-Disposition", f"{self._disposition}; filename*=UTF-8''{quoted}")
        cache = self.get_cache_time(path, None, "")
        self.set_header("Cache-Control", f"private, max-age={cache}")


def routes(blobs: Blobs) -> list[tuple[str, type[tornado.web.RequestHandler], dict[str, Any]]]:
    """The tornado routes that serve upload, part and download URLs.

    Parameters
    ----------
    blobs : Blobs
        The platform's file contents.

    Returns
    -------
    list of (pattern, handler class, kwargs)
    """
    kwargs = {"blobs": blobs}
    file_id = r"(?P<file_id>[0-9]{1,18})"
    return [
        (rf"{BLOB_PREFIX}/upload/{file_id}", UploadHandler, kwargs),
        (rf"{BLOB_PREFIX}/parts/{file_id}/(?P<part>[0-9]{{1,5}})", PartHandler, kwargs),
        (rf"{BLOB_PREFIX}/files/{file_id}/(?P<name>[^/]+)", DownloadHandler, kwargs),
    ]
