"""File contents on disk, and the S3-like URLs that move them.

:class:`Blobs` keeps each platform file's bytes at ``<data_dir>/files/<id>``
and signs URLs with an HMAC over the request's purpose, file id, part and
expiry time:

- single uploads: a form POST to ``uploadUrl`` with the ``uploadFields``
  (``key``, ``policy``, ``signature``) first and ``file`` last, like an S3
  presigned POST;
- multipart uploads: one presigned PUT URL per part, then
  :meth:`Blobs.complete_multipart` joins the parts;
- downloads: a signed GET URL that stops working at its expiry time.

Expired or forged URLs answer 403 with an S3-style XML error body. Bodies are
streamed to and from disk; a file is never held in memory whole.
:func:`routes` gives the tornado routes that serve these URLs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import mimetypes
import os
import re
import shutil
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import tornado.iostream
import tornado.web

__all__ = [
    "BLOB_PREFIX",
    "BlobAccessError",
    "BlobError",
    "Blobs",
    "routes",
]

#: URL path prefix of the blob routes.
BLOB_PREFIX = "/_blobs"
#: Largest body accepted for one upload or part (S3's part limit).
MAX_BODY = 5 * 2**30
CHUNK = 256 * 1024
MAX_FIELD = 64 * 1024


class BlobError(Exception):
    """A file's contents are missing or incomplete."""


class BlobAccessError(Exception):
    """A signed URL or upload policy is expired, forged or malformed.

    Parameters
    ----------
    code : str
        S3-style error code (``AccessDenied``, ``SignatureDoesNotMatch``).
    message : str
        Human-readable reason.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Blobs:
    """File contents of a platform, with signed upload and download URLs.

    Parameters
    ----------
    data_dir : Path
        Directory for the contents (``files/``, ``parts/``, ``tmp/`` inside).
    secret : bytes
        Key for the URL signatures.
    """

    def __init__(self, data_dir: Path, secret: bytes):
        if not secret:
            raise ValueError("Blobs needs a non-empty signing secret")
        self.root = Path(data_dir)
        self._secret = bytes(secret)
        for sub in ("files", "parts", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"Blobs({str(self.root)!r})"

    # -- contents ------------------------------------------------------------

    def path(self, file_id: int) -> Path:
        """Where a file's contents live (whether or not they exist yet).

        Parameters
        ----------
        file_id : int
            Platform file id.

        Returns
        -------
        Path
        """
        return self.root / "files" / str(int(file_id))

    def exists(self, file_id: int) -> bool:
        """Whether the file's contents have been uploaded."""
        return self.path(file_id).is_file()

    def size(self, file_id: int) -> int | None:
        """Size in bytes, or ``None`` before the upload."""
        try:
            return self.path(file_id).stat().st_size
        except FileNotFoundError:
            return None

    @contextmanager
    def writer(self, file_id: int) -> Iterator[IO[bytes]]:
        """Write a file's contents; they appear atomically when the block ends.

        Parameters
        ----------
        file_id : int
            Platform file id.

        Yields
        ------
        binary file
            Discarded if the block raises.
        """
        with self._tmp_writer(self.path(file_id)) as f:
            yield f

    @contextmanager
    def _tmp_writer(self, final: Path) -> Iterator[IO[bytes]]:
        fd, tmp = tempfile.mkstemp(dir=self.root / "tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                yield f
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        except BaseException:
            _unlink_quietly(Path(tmp))
            raise

    def write_bytes(self, file_id: int, data: bytes) -> int:
        """Store small contents given in memory.

        Parameters
        ----------
        file_id : int
            Platform file id.
        data : bytes
            The contents.

        Returns
        -------
        int
            The size written.
        """
        with self.writer(file_id) as f:
            f.write(data)
        return len(data)

    def import_path(self, file_id: int, source: Path) -> int:
        """Move a local file in as a file's contents (``source`` is consumed).

        Parameters
        ----------
        file_id : int
            Platform file id.
        source : Path
            A file on the same machine.

        Returns
        -------
        int
            Its size.
        """
        final = self.path(file_id)
        try:
            os.replace(source, final)
        except OSError:
            with open(source, "rb") as src, self.writer(file_id) as dst:
                shutil.copyfileobj(src, dst, CHUNK)
            Path(source).unlink()
        return final.stat().st_size

    def link(self, source_id: int, target_id: int) -> int:
        """Give ``target_id`` the same contents as ``source_id`` (hard link or copy).

        Parameters
        ----------
        source_id, target_id : int
            Platform file ids.

        Returns
        -------
        int
            The size.

        Raises
        ------
        BlobError
            If the source has no contents.
        """
        src = self.path(source_id)
        if not src.is_file():
            raise BlobError(f"file {source_id} has not been uploaded")
        dst = self.path(target_id)
        _unlink_quietly(dst)
        try:
            os.link(src, dst)
        except OSError:
            with open(src, "rb") as fin, self.writer(target_id) as fout:
                shutil.copyfileobj(fin, fout, CHUNK)
        return dst.stat().st_size

    def delete(self, file_id: int) -> None:
        """Remove a file's contents and any leftover parts."""
        _unlink_quietly(self.path(file_id))
        shutil.rmtree(self._parts_dir(file_id), ignore_errors=True)

    # -- multipart -----------------------------------------------------------

    def _parts_dir(self, file_id: int) -> Path:
        return self.root / "parts" / str(int(file_id))

    def part_path(self, file_id: int, part: int) -> Path:
        """Where part ``part`` (0-based) of a multipart upload is kept."""
        return self._parts_dir(file_id) / f"{int(part):05d}"

    @contextmanager
    def part_writer(self, file_id: int, part: int) -> Iterator[IO[bytes]]:
        """Write one part of a multipart upload (atomically, like :meth:`writer`)."""
        with self._tmp_writer(self.part_path(file_id, part)) as f:
            yield f

    def complete_multipart(self, file_id: int, num_parts: int) -> int:
        """Join the uploaded parts, in order, into the file's contents.

        Parameters
        ----------
        file_id : int
            Platform file id.
        num_parts : int
            How many parts were announced.

        Returns
        -------
        int
            The file's size.

        Raises
        ------
        BlobError
            If a part is missing.
        """
        paths = [self.part_path(file_id, i) for i in range(int(num_parts))]
        missing = [i + 1 for i, p in enumerate(paths) if not p.is_file()]
        if missing:
            shown = ", ".join(map(str, missing[:10]))
            raise BlobError(f"file {file_id}: part(s) {shown} of {num_parts} were not uploaded")
        with self.writer(file_id) as out:
            for p in paths:
                with open(p, "rb") as src:
                    shutil.copyfileobj(src, out, CHUNK)
        shutil.rmtree(self._parts_dir(file_id), ignore_errors=True)
        return self.path(file_id).stat().st_size

    # -- signatures ----------------------------------------------------------

    def _sign(self, *fields: Any) -> str:
        msg = "\n".join(str(f) for f in fields).encode("utf-8")
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    def _check(self, signature: str | None, expires: str | None, *fields: Any) -> None:
        if not signature or not expires:
            raise BlobAccessError("AccessDenied", "Request is not signed")
        try:
            deadline = int(expires)
        except ValueError:
            raise BlobAccessError("AccessDenied", "Invalid expiry") from None
        expected = self._sign(*fields, deadline)
        if not hmac.compare_digest(expected, str(signature)):
            raise BlobAccessError("SignatureDoesNotMatch", "The request signature does not match")
        if time.time() > deadline:
            raise BlobAccessError("AccessDenied", "Request has expired")

    def upload_form(
        self, base_url: str, file_id: int, expires_in: float = 3600
    ) -> tuple[str, dict[str, str]]:
        """The URL and form fields for a single upload of a file.

        Parameters
        ----------
        base_url : str
            The platform's root URL (``http://127.0.0.1:port/``).
        file_id : int
            Platform file id.
        expires_in : float
            Seconds the policy stays valid.

        Returns
        -------
        (str, dict)
            ``uploadUrl`` and ``uploadFields`` (``key`` first).
        """
        key = f"files/{int(file_id)}"
        deadline = int(time.time() + expires_in)
        policy = _b64(json.dumps({"key": key, "expires": deadline}).encode())
        fields = {
            "key": key,
            "policy": policy,
            "signature": self._sign("post", key, policy),
        }
        return _join(base_url, f"{BLOB_PREFIX}/upload/{int(file_id)}"), fields

    def check_upload_fields(self, file_id: int, fields: dict[str, str]) -> None:
        """Verify the form fields of a single upload.

        Parameters
        ----------
        file_id : int
            The file named by the upload URL.
        fields : dict
            The form fields received before the file.

        Raises
        ------
        BlobAccessError
            If the policy is forged, expired or for another file.
        """
        key, policy, sig = (
            fields.get("key"),
            fields.get("policy"),
            fields.get("signature"),
        )
        if not key or not policy or not sig:
            raise BlobAccessError("AccessDenied", "key, policy and signature fields are required")
        if not hmac.compare_digest(self._sign("post", key, policy), sig):
            raise BlobAccessError(
                "SignatureDoesNotMatch", "The upload policy signature does not match"
            )
        try:
            doc = json.loads(_unb64(policy))
        except ValueError:
            raise BlobAccessError("AccessDenied", "Malformed upload policy") from None
        if doc.get("key") != key or key != f"files/{int(file_id)}":
            raise BlobAccessError("AccessDenied", "The key does not match the policy")
        if time.time() > float(doc.get("expires", 0)):
            raise BlobAccessError("AccessDenied", "Upload policy has expired")

    def part_urls(
        self, base_url: str, file_id: int, num_parts: int, expires_in: float = 3600
    ) -> list[str]:
        """Presigned PUT URLs for the parts of a multipart upload.

        Parameters
        ----------
        base_url : str
            The platform's root URL.
        file_id : int
            Platform file id.
        num_parts : int
            Number of parts.
        expires_in : float
            Seconds the URLs stay valid.

        Returns
        -------
        list of str
            One URL per part, in order.
        """
        deadline = int(time.time() + expires_in)
        urls = []
        for part in range(int(num_parts)):
            sig = self._sign("put", int(file_id), part, deadline)
            query = urllib.parse.urlencode({"expires": deadline, "signature": sig})
            urls.append(_join(base_url, f"{BLOB_PREFIX}/parts/{int(file_id)}/{part}?{query}"))
        return urls

    def check_part(
        self, file_id: int, part: int, expires: str | None, signature: str | None
    ) -> None:
        """Verify a part URL's signature and expiry.

        Raises
        ------
        BlobAccessError
            If the URL is forged or expired.
        """
        self._check(signature, expires, "put", int(file_id), int(part))

    def download_url(
        self,
        base_url: str,
        file_id: int,
        name: str,
        expires_at: float,
        inline: bool = False,
    ) -> str:
        """A signed URL that serves the file's contents until ``expires_at``.

        Parameters
        ----------
        base_url : str
            The platform's root URL.
        file_id : int
            Platform file id.
        name : str
            File name (ends the URL path and names the download).
        expires_at : float
            Unix time after which the URL answers 403.
        inline : bool
            Ask browsers to display rather than download.

        Returns
        -------
        str
        """
        deadline = int(expires_at)
        disposition = "inline" if inline else "attachment"
        sig = self._sign("get", int(file_id), disposition, deadline)
        query = urllib.parse.urlencode(
            {"disposition": disposition, "expires": deadline, "signature": sig}
        )
        safe = urllib.parse.quote(_safe_name(name), safe="")
        return _join(base_url, f"{BLOB_PREFIX}/files/{int(file_id)}/{safe}?{query}")

    def check_download(
        self,
        file_id: int,
        disposition: str | None,
        expires: str | None,
        signature: str | None,
    ) -> None:
        """Verify a download URL (raises :class:`BlobAccessError`)."""
        self._check(signature, expires, "get", int(file_id), disposition or "")


def _unlink_quietly(path: Path) -> None:
    """Remove a file if it exists."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _join(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def _safe_name(name: str) -> str:
    base = os.path.basename(str(name or "").replace("\\", "/")) or "file"
    return base


def _xml_error(code: str, message: str) -> str:
    from xml.sax.saxutils import escape

    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        "</Error>"
    )


class _BlobHandler(tornado.web.RequestHandler):
    """Shared bits of the blob routes: S3-style XML errors."""

    blobs: Blobs

    def initialize(self, blobs: Blobs) -> None:
        self.blobs = blobs

    def check_xsrf_cookie(self) -> None:
        """Presigned URLs carry their own authorisation."""

    def send_s3_error(self, status: int, code: str, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/xml")
        self.finish(_xml_error(code, message))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        reason = self._reason or "Error"
        self.set_header("Content-Type", "application/xml")
        self.finish(_xml_error(reason.replace(" ", ""), reason))


class _MultipartFormParser:
    """An incremental ``multipart/form-data`` parser writing the file to disk.

    Fields other than ``file`` are collected (small); when the ``file`` part
    begins, ``on_file_start(fields)`` is called and must return a binary
    writer (or ``None`` to discard the contents).
    """

    def __init__(self, boundary: bytes, on_file_start: Any):
        self._delim = b"\r\n--" + boundary
        self._buf = b"\r\n"  # makes the first boundary look like the others
        self._state = "preamble"
        self._name: str | None = None
        self._value = bytearray()
        self._sink: IO[bytes] | None = None
        self._on_file_start = on_file_start
        self.fields: dict[str, str] = {}
        self.got_file = False
        self.done = False

    def feed(self, data: bytes) -> None:
        self._buf += data
        while self._step():
            pass

    def _step(self) -> bool:
        if self.done:
            self._buf = b""
            return False
        if self._state == "preamble":
            i = self._buf.find(self._delim)
            if i < 0:
                self._buf = self._buf[-len(self._delim) :]
                return False
            self._buf = self._buf[i + len(self._delim) :]
            self._state = "after_delim"
            return True
        if self._state == "after_delim":
            if len(self._buf) < 2:
                return False
            if self._buf[:2] == b"--":
                self.done = True
                return False
            self._buf = self._buf[2:]  # CRLF
            self._state = "headers"
            return True
        if self._state == "headers":
            i = self._buf.find(b"\r\n\r\n")
            if i < 0:
                if len(self._buf) > MAX_FIELD:
                    raise ValueError("multipart headers too long")
                return False
            headers = self._buf[:i].decode("utf-8", "replace")
            self._buf = self._buf[i + 4 :]
            match = re.search(r'name="([^"]*)"', headers, re.IGNORECASE)
            self._name = match.group(1) if match else ""
            self._value = bytearray()
            if self._name == "file":
                self.got_file = True
                self._sink = self._on_file_start(dict(self.fields))
            self._state = "body"
            return True
        # body
        i = self._buf.find(self._delim)
        if i >= 0:
            self._emit(self._buf[:i])
            self._buf = self._buf[i + len(self._delim) :]
            self._end_part()
            self._state = "after_delim"
            return True
        keep = len(self._delim) - 1
        if len(self._buf) > keep:
            self._emit(self._buf[:-keep])
            self._buf = self._buf[-keep:]
        return False

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        if self._name == "file":
            if self._sink is not None:
                self._sink.write(data)
        else:
            self._value += data
            if len(self._value) > MAX_FIELD:
                raise ValueError(f"form field {self._name!r} is too long")

    def _end_part(self) -> None:
        if self._name != "file" and self._name is not None:
            self.fields[self._name] = self._value.decode("utf-8", "replace")
        self._name = None


@tornado.web.stream_request_body
class UploadHandler(_BlobHandler):
    """``POST /_blobs/upload/{id}``: an S3-style form upload of one file."""

    def prepare(self) -> None:
        self.request.connection.set_max_body_size(MAX_BODY)
        self._file_id = int(self.path_kwargs["file_id"])
        self._denied: BlobAccessError | None = None
        self._writer_cm: Any = None
        self._writer: IO[bytes] | None = None
        ctype = self.request.headers.get("Content-Type", "")
        match = re.search(r'boundary="?([^";]+)"?', ctype)
        if not ctype.startswith("multipart/form-data") or not match:
            self._parser = None
            return
        self._parser = _MultipartFormParser(match.group(1).encode("latin-1"), self._start_file)

    def _start_file(self, fields: dict[str, str]) -> IO[bytes] | None:
        try:
            self.blobs.check_upload_fields(self._file_id, fields)
        except BlobAccessError as exc:
            self._denied = exc
            return None
        self._writer_cm = self.blobs.writer(self._file_id)
        self._writer = self._writer_cm.__enter__()
        return self._writer

    def data_received(self, chunk: bytes) -> None:
        if self._parser is not None:
            try:
                self._parser.feed(chunk)
            except ValueError as exc:
                self._parser = None
                self._abort_writer(exc)
                self._denied = BlobAccessError("MalformedPOSTRequest", str(exc))

    def _abort_writer(self, exc: BaseException) -> None:
        if self._writer_cm is not None:
            cm, self._writer_cm = self._writer_cm, None
            cm.__exit__(type(exc), exc, None)

    def post(self, file_id: str) -> None:
        if self._parser is None and self._denied is None:
            return self.send_s3_error(
                400, "MalformedPOSTRequest", "expected a multipart/form-data body"
            )
        if self._denied is not None:
            return self.send_s3_error(403, self._denied.code, self._denied.message)
        assert self._parser is not None
        if not self._parser.got_file or not self._parser.done:
            self._abort_writer(ValueError("incomplete"))
            return self.send_s3_error(
                400, "MalformedPOSTRequest", "the form has no complete 'file' field"
            )
        cm, self._writer_cm = self._writer_cm, None
        cm.__exit__(None, None, None)
        self.set_status(204)
        self.finish()

    def on_connection_close(self) -> None:
        self._abort_writer(ConnectionError("client went away"))


@tornado.web.stream_request_body
class PartHandler(_BlobHandler):
    """``PUT /_blobs/parts/{id}/{part}?expires=..&signature=..``: one part."""

    def prepare(self) -> None:
        self.request.connection.set_max_body_size(MAX_BODY)
        self._cm: Any = None
        self._out: IO[bytes] | None = None
        file_id = int(self.path_kwargs["file_id"])
        part = int(self.path_kwargs["part"])
        try:
            self.blobs.check_part(
                file_id,
                part,
                self.get_query_argument("expires", None),
                self.get_query_argument("signature", None),
            )
        except BlobAccessError as exc:
            self._denied: BlobAccessError | None = exc
            return
        self._denied = None
        self._cm = self.blobs.part_writer(file_id, part)
        self._out = self._cm.__enter__()

    def data_received(self, chunk: bytes) -> None:
        if self._out is not None:
            self._out.write(chunk)

    def put(self, file_id: str, part: str) -> None:
        if self._denied is not None:
            return self.send_s3_error(403, self._denied.code, self._denied.message)
        cm, self._cm, self._out = self._cm, None, None
        cm.__exit__(None, None, None)
        self.set_header("ETag", f'"{file_id}-{part}"')
        self.set_status(200)
        self.finish()

    def on_connection_close(self) -> None:
        if self._cm is not None:
            cm, self._cm, self._out = self._cm, None, None
            exc = ConnectionError("client went away")
            cm.__exit__(type(exc), exc, None)


class DownloadHandler(_BlobHandler):
    """``GET /_blobs/files/{id}/{name}?...``: a signed, expiring download."""

    async def get(self, file_id: str, name: str) -> None:
        await self._serve(int(file_id), name, body=True)

    async def head(self, file_id: str, name: str) -> None:
        await self._serve(int(file_id), name, body=False)

    async def _serve(self, file_id: int, name: str, body: bool) -> None:
        disposition = self.get_query_argument("disposition", None)
        try:
            self.blobs.check_download(
                file_id,
                disposition,
                self.get_query_argument("expires", None),
                self.get_query_argument("signature", None),
            )
        except BlobAccessError as exc:
            return self.send_s3_error(403, exc.code, exc.message)
        path = self.blobs.path(file_id)
        try:
            f = open(path, "rb")  # noqa: SIM115 (closed by the block below)
        except FileNotFoundError:
            return self.send_s3_error(404, "NoSuchKey", "The file has no contents")
        with f:
            size = os.fstat(f.fileno()).st_size
            name = urllib.parse.unquote(name)
            ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
            if name.endswith(".gz"):
                ctype = "application/gzip"
            self.set_header("Content-Type", ctype)
            self.set_header("Content-Length", str(size))
            quoted = urllib.parse.quote(name)
            self.set_header(
                "Content-Disposition",
                f"{disposition or 'attachment'}; filename*=UTF-8''{quoted}",
            )
            if not body:
                return self.finish()
            while chunk := f.read(CHUNK):
                self.write(chunk)
                try:
                    await self.flush()
                except tornado.iostream.StreamClosedError:
                    return
        self.finish()


def routes(blobs: Blobs) -> list[tuple[str, type, dict[str, Any]]]:
    """The tornado routes that serve upload, part and download URLs.

    Parameters
    ----------
    blobs : Blobs
        The platform's blob store (also accepted: an object with ``.blobs``).

    Returns
    -------
    list of (pattern, handler class, kwargs)
    """
    if not isinstance(blobs, Blobs):
        blobs = blobs.blobs
    kwargs = {"blobs": blobs}
    return [
        (rf"{BLOB_PREFIX}/upload/(?P<file_id>\d+)", UploadHandler, kwargs),
        (rf"{BLOB_PREFIX}/parts/(?P<file_id>\d+)/(?P<part>\d+)", PartHandler, kwargs),
        (
            rf"{BLOB_PREFIX}/files/(?P<file_id>\d+)/(?P<name>[^/]+)",
            DownloadHandler,
            kwargs,
        ),
    ]
