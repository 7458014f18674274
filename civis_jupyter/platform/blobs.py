"""File contents on disk, and the S3-like URLs that move them.

:class:`Blobs` keeps each platform file's bytes at ``<data_dir>/files/<id>``
and signs URLs with an HMAC over the request's purpose, file id, part and
expiry time:

- single uploads: a form POST to ``uploadUrl`` with the ``uploadFields``
  (``key``, ``policy``, ``signature``) first and ``file`` last, like an S3
  presigned POST;
- multipart uploads: one presigned PUT URL per part, then
  :meth:`Blobs.complete_multipart` joins the parts;
- downloads: a signed GET URL that stops working at its expiry time, at most
  36 hours after it was made (as on Civis) and never after the file expires.

A file's contents, once complete, never change through these URLs: a second
form POST, a part PUT after completion or a second completion are refused,
and every publication is an atomic create-if-absent (a hard link), so two
racing uploads or completions cannot both win. Files have an expiry time
(kept in ``expiry/<id>``); once it passes, their links answer 404 and their
bytes are deleted, on access and by a sweep run at start and at most once a
minute as URLs are made; bytes uploaded after that are dropped (like an S3
lifecycle rule deleting them at once). Temporary files left by a crash are removed at start.

Expired or forged URLs answer 403 with an S3-style XML error body. Bodies are
streamed to and from disk; a file is never held in memory whole.
:func:`routes` gives the tornado routes that serve these URLs.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import json
import mimetypes
import os
import re
import shutil
import tempfile
import threading
import time
import urllib.parse
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import tornado.iostream
import tornado.web

__all__ = [
    "BLOB_PREFIX",
    "MAX_LINK_SECONDS",
    "BlobAccessError",
    "BlobConflict",
    "BlobError",
    "Blobs",
    "routes",
    "url_name",
]

#: URL path prefix of the blob routes.
BLOB_PREFIX = "/_blobs"
#: Largest body accepted for one upload or part (S3's part limit).
MAX_BODY = 5 * 2**30
#: Longest life of a signed download link (Civis allows 36 hours).
MAX_LINK_SECONDS = 36 * 3600
#: Seconds between two sweeps of expired files' bytes (sweeps run as URLs are made).
SWEEP_INTERVAL = 60.0
CHUNK = 256 * 1024
MAX_FIELD = 64 * 1024
#: Longest URL path segment naming a download (in characters, before quoting).
MAX_URL_NAME = 255
_SUBDIRS = ("files", "parts", "tmp", "expiry")


class BlobError(Exception):
    """A file's contents are missing or incomplete."""


class BlobConflict(BlobError):
    """A file's contents are complete already: they cannot be written again."""


class BlobAccessError(Exception):
    """A signed URL or upload policy is expired, forged, malformed or used up.

    Parameters
    ----------
    code : str
        S3-style error code (``AccessDenied``, ``SignatureDoesNotMatch``).
    message : str
        Human-readable reason.
    status : int, optional
        HTTP status of the answer (403 unless told).
    """

    def __init__(self, code: str, message: str, status: int = 403):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Pending:
    """Bytes written to a temporary file, then published or dropped.

    Parameters
    ----------
    tmp_dir : Path
        Where the temporary file lives (same file system as its destination).
    publish : callable
        Moves the finished temporary file into place; may raise
        :class:`BlobConflict`.
    """

    def __init__(self, tmp_dir: Path, publish: Callable[[Path], None]):
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
        self.path = Path(name)
        self.file: IO[bytes] = os.fdopen(fd, "wb")
        self._publish = publish
        self.closed = False

    def write(self, data: bytes) -> int:
        """Append data."""
        return self.file.write(data)

    def commit(self) -> None:
        """Publish the bytes written (the temporary file is gone afterwards)."""
        if self.closed:
            raise RuntimeError("this write is already finished")
        self.closed = True
        try:
            self.file.close()
            self._publish(self.path)
        finally:
            _unlink_quietly(self.path)

    def abort(self) -> None:
        """Drop the bytes written (no effect once finished)."""
        if self.closed:
            return
        self.closed = True
        self.file.close()
        _unlink_quietly(self.path)


class Blobs:
    """File contents of a platform, with signed upload and download URLs.

    Parameters
    ----------
    data_dir : Path
        Directory for the contents (``files/``, ``parts/``, ``tmp/``,
        ``expiry/`` inside). Opening it removes temporary files left by a
        crash and the bytes of files that have expired.
    secret : bytes
        Key for the URL signatures.
    """

    def __init__(self, data_dir: Path, secret: bytes):
        if not secret:
            raise ValueError("Blobs needs a non-empty signing secret")
        self.root = Path(data_dir)
        self._secret = bytes(secret)
        self._ensure_dirs()
        self._lock = threading.Lock()
        self._file_locks: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
        self._expiry: dict[int, float] = {}
        self._due: list[tuple[float, int]] = []
        self._next_sweep = 0.0
        self.clean_temporary()
        self._load_expiry()
        self.sweep()

    def __repr__(self) -> str:
        return f"Blobs({str(self.root)!r})"

    def _ensure_dirs(self) -> None:
        for sub in _SUBDIRS:
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def _file_lock(self, file_id: int) -> Any:
        """The lock serialising publications of one file's contents and parts."""
        with self._lock:
            lock = self._file_locks.get(int(file_id))
            if lock is None:
                lock = threading.Lock()
                self._file_locks[int(file_id)] = lock
            return lock

    # -- crash hygiene --------------------------------------------------------

    def clean_temporary(self) -> int:
        """Remove what a crash left behind: temporary files, parts of complete files.

        Call only while no upload is under way (the platform does it at start).

        Returns
        -------
        int
            How many entries were removed.
        """
        removed = 0
        for entry in list((self.root / "tmp").iterdir()):
            _remove_any(entry)
            removed += 1
        for entry in list((self.root / "parts").iterdir()):
            if entry.name.isdigit() and self.exists(int(entry.name)):
                _remove_any(entry)
                removed += 1
        return removed

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
        """Whether the file's contents have been uploaded (and not deleted)."""
        return self.path(file_id).is_file()

    def size(self, file_id: int) -> int | None:
        """Size in bytes, or ``None`` before the upload and after expiry."""
        try:
            return self.path(file_id).stat().st_size
        except FileNotFoundError:
            return None

    def _pending(self, publish: Callable[[Path], None]) -> _Pending:
        return _Pending(self.root / "tmp", publish)

    @staticmethod
    def _replace_into(final: Path) -> Callable[[Path], None]:
        def publish(tmp: Path) -> None:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)

        return publish

    def _create_only(self, file_id: int) -> Callable[[Path], None]:
        """A publication that fails with :class:`BlobConflict` if contents exist."""
        final = self.path(file_id)

        def publish(tmp: Path) -> None:
            if self.is_expired(file_id):
                return  # dropped, like everything of an expired file
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(tmp, final)  # atomic: fails if the file exists
            except FileExistsError:
                raise BlobConflict(f"file {file_id} is already complete") from None
            except OSError:  # no hard links here: fall back to a checked replace
                with self._file_lock(file_id):
                    if final.exists():
                        raise BlobConflict(f"file {file_id} is already complete") from None
                    os.replace(tmp, final)

        return publish

    @contextmanager
    def writer(self, file_id: int) -> Iterator[IO[bytes]]:
        """Write (or replace) a file's contents; they appear atomically at the end.

        This is the platform's own path (exports, conversions); uploads
        through URLs use :meth:`open_upload`, which never replaces contents.

        Parameters
        ----------
        file_id : int
            Platform file id.

        Yields
        ------
        binary file
            Discarded if the block raises.
        """
        with self._write_with(self._replace_into(self.path(file_id))) as f:
            yield f

    @contextmanager
    def _write_with(self, publish: Callable[[Path], None]) -> Iterator[IO[bytes]]:
        pending = self._pending(publish)
        try:
            yield pending.file
        except BaseException:
            pending.abort()
            raise
        pending.commit()

    def open_upload(self, file_id: int) -> _Pending:
        """Start the one upload of a file's contents.

        Parameters
        ----------
        file_id : int
            Platform file id.

        Returns
        -------
        _Pending
            ``write`` the bytes, then ``commit()`` (raises
            :class:`BlobConflict` if the contents were completed meanwhile)
            or ``abort()``.

        Raises
        ------
        BlobConflict
            If the file is complete already.
        """
        self._check_open(file_id)
        return self._pending(self._create_only(file_id))

    def _check_open(self, file_id: int) -> None:
        if self.exists(file_id):
            raise BlobConflict(f"file {file_id} is already complete; its contents cannot change")

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
        final.parent.mkdir(parents=True, exist_ok=True)
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
        """Remove a file's contents, any leftover parts and its expiry."""
        self._drop_contents(file_id)
        self.set_expiry(file_id, None)

    def _drop_contents(self, file_id: int) -> bool:
        """Remove a file's bytes and parts; tell whether there were any."""
        had = _unlink_quietly(self.path(file_id))
        parts = self._parts_dir(file_id)
        if parts.exists():
            shutil.rmtree(parts, ignore_errors=True)
            had = True
        return had

    # -- expiry ----------------------------------------------------------------

    def _expiry_path(self, file_id: int) -> Path:
        return self.root / "expiry" / str(int(file_id))

    def _load_expiry(self) -> None:
        for entry in (self.root / "expiry").iterdir():
            try:
                file_id, when = int(entry.name), float(entry.read_text())
            except (ValueError, OSError):
                continue
            self._expiry[file_id] = when
            self._due.append((when, file_id))
        heapq.heapify(self._due)

    def set_expiry(self, file_id: int, expires_at: float | None) -> None:
        """Record when a file expires (``None``: never); kept across restarts.

        Parameters
        ----------
        file_id : int
            Platform file id.
        expires_at : float or None
            Unix time.
        """
        file_id = int(file_id)
        when = None if expires_at is None else float(expires_at)
        with self._lock:
            if self._expiry.get(file_id) == when:
                return
            if when is None:
                self._expiry.pop(file_id, None)
            else:
                self._expiry[file_id] = when
                heapq.heappush(self._due, (when, file_id))
        path = self._expiry_path(file_id)
        if when is None:
            _unlink_quietly(path)
        else:
            with self._write_with(self._replace_into(path)) as f:
                f.write(repr(when).encode("ascii"))
        self.maybe_sweep()

    def expires_at(self, file_id: int) -> float | None:
        """When the file expires (Unix time), or ``None`` if never or unknown."""
        with self._lock:
            return self._expiry.get(int(file_id))

    def is_expired(self, file_id: int, now: float | None = None) -> bool:
        """Whether the file's expiry time has passed."""
        when = self.expires_at(file_id)
        return when is not None and when <= (time.time() if now is None else now)

    def expire_if_due(self, file_id: int) -> bool:
        """Delete an expired file's bytes now; tell whether it has expired."""
        if not self.is_expired(file_id):
            return False
        with self._file_lock(file_id):
            self._drop_contents(file_id)
        return True

    def sweep(self, now: float | None = None) -> int:
        """Delete the bytes of every file whose expiry has passed.

        Parameters
        ----------
        now : float, optional
            Unix time (default: now).

        Returns
        -------
        int
            How many files had bytes (or parts) to delete.
        """
        now = time.time() if now is None else now
        due = []
        with self._lock:
            while self._due and self._due[0][0] <= now:
                when, file_id = heapq.heappop(self._due)
                if self._expiry.get(file_id) == when:  # else changed since
                    due.append(file_id)
            self._next_sweep = time.monotonic() + SWEEP_INTERVAL
        dropped = 0
        for file_id in due:
            with self._file_lock(file_id):
                dropped += self._drop_contents(file_id)
        return dropped

    def maybe_sweep(self) -> None:
        """Run :meth:`sweep` if the last one is more than a minute old."""
        if time.monotonic() >= self._next_sweep:
            self.sweep()

    # -- multipart -----------------------------------------------------------

    def _parts_dir(self, file_id: int) -> Path:
        return self.root / "parts" / str(int(file_id))

    def part_path(self, file_id: int, part: int) -> Path:
        """Where part ``part`` (0-based) of a multipart upload is kept."""
        return self._parts_dir(file_id) / f"{int(part):05d}"

    def open_part(self, file_id: int, part: int) -> _Pending:
        """Start writing one part of a multipart upload (a part may be sent again).

        Returns
        -------
        _Pending
            ``commit()`` raises :class:`BlobConflict` if the upload was
            completed meanwhile.

        Raises
        ------
        BlobConflict
            If the file is complete already.
        """
        self._check_open(file_id)
        final = self.part_path(file_id, part)
        replace = self._replace_into(final)

        def publish(tmp: Path) -> None:
            with self._file_lock(file_id):
                self._check_open(file_id)
                if not self.is_expired(file_id):  # else dropped
                    replace(tmp)

        return self._pending(publish)

    @contextmanager
    def part_writer(self, file_id: int, part: int) -> Iterator[IO[bytes]]:
        """Write one part of a multipart upload (atomically, like :meth:`writer`)."""
        pending = self.open_part(file_id, part)
        try:
            yield pending.file
        except BaseException:
            pending.abort()
            raise
        pending.commit()

    def complete_multipart(self, file_id: int, num_parts: int) -> int:
        """Join the uploaded parts, in order, into the file's contents (once).

        Parameters
        ----------
        file_id : int
            Platform file id.
        num_parts : int
            How many parts were announced.

        Returns
        -------
        int
            The file's size (0 for an expired file: its parts are dropped).

        Raises
        ------
        BlobError
            If a part is missing.
        BlobConflict
            If the file is complete already (a second or concurrent completion).
        """
        with self._file_lock(file_id):
            self._check_open(file_id)
            if self.is_expired(file_id):
                self._drop_contents(file_id)
                return 0
            paths = [self.part_path(file_id, i) for i in range(int(num_parts))]
            missing = [i + 1 for i, p in enumerate(paths) if not p.is_file()]
            if missing:
                shown = ", ".join(map(str, missing[:10]))
                raise BlobError(f"file {file_id}: part(s) {shown} of {num_parts} were not uploaded")
            pending = self._pending(self._create_only(file_id))
            try:
                for p in paths:
                    with open(p, "rb") as src:
                        shutil.copyfileobj(src, pending.file, CHUNK)
            except BaseException:
                pending.abort()
                raise
            pending.commit()
            shutil.rmtree(self._parts_dir(file_id), ignore_errors=True)
            return self.path(file_id).stat().st_size

    # -- signatures ----------------------------------------------------------

    def _sign(self, *fields: Any) -> str:
        msg = "\n".join(str(f) for f in fields).encode("utf-8")
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    def _check(self, signature: str | None, expires: str | None, *fields: Any) -> None:
        if not signature or not expires:
            raise BlobAccessError("AccessDenied", "Request is not signed")
        if not expires.isascii() or not expires.isdigit() or len(expires) > 18:
            raise BlobAccessError("AccessDenied", "Invalid expiry")
        deadline = int(expires)
        expected = self._sign(*fields, deadline)
        if not hmac.compare_digest(expected.encode(), str(signature).encode("utf-8", "replace")):
            raise BlobAccessError("SignatureDoesNotMatch", "The request signature does not match")
        if time.time() > deadline:
            raise BlobAccessError("AccessDenied", "Request has expired")

    def _deadline(self, file_id: int, wanted: float) -> int:
        """``wanted``, but never after the file expires."""
        when = self.expires_at(file_id)
        return int(wanted if when is None else min(wanted, when))

    def upload_form(
        self, base_url: str, file_id: int, expires_in: float = 3600
    ) -> tuple[str, dict[str, str]]:
        """The URL and form fields for the single upload of a file.

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
        self.maybe_sweep()
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
        expected = self._sign("post", key, policy)
        if not hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace")):
            raise BlobAccessError(
                "SignatureDoesNotMatch", "The upload policy signature does not match"
            )
        try:
            doc = json.loads(_unb64(policy))
            expires = float(doc.get("expires", 0))
        except (ValueError, TypeError, AttributeError):
            raise BlobAccessError("AccessDenied", "Malformed upload policy") from None
        if doc.get("key") != key or key != f"files/{int(file_id)}":
            raise BlobAccessError("AccessDenied", "The key does not match the policy")
        if time.time() > expires:
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
        self.maybe_sweep()
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
            File name (ends the URL path and names the download); any string.
        expires_at : float
            Unix time after which the URL answers 403; capped at 36 hours
            from now and at the file's own expiry.
        inline : bool
            Ask browsers to display rather than download.

        Returns
        -------
        str
        """
        self.maybe_sweep()
        deadline = self._deadline(file_id, min(expires_at, time.time() + MAX_LINK_SECONDS))
        disposition = "inline" if inline else "attachment"
        sig = self._sign("get", int(file_id), disposition, deadline)
        query = urllib.parse.urlencode(
            {"disposition": disposition, "expires": deadline, "signature": sig}
        )
        safe = urllib.parse.quote(url_name(name), safe="")
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


def _unlink_quietly(path: Path) -> bool:
    """Remove a file if it exists; tell whether it did."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def _remove_any(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        _unlink_quietly(path)


def _join(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def url_name(name: Any) -> str:
    """The last URL path segment naming a file's download.

    Any name works: the part after the last slash, lone surrogates replaced,
    at most 255 characters (keeping the extension), and ``file`` for names
    that would make no segment (empty, ``.``, ``..``).

    Parameters
    ----------
    name : Any
        The file's name.

    Returns
    -------
    str
        A non-empty name, safe to quote into a URL path.
    """
    text = str(name or "").encode("utf-8", "replace").decode("utf-8")
    base = text.replace("\\", "/").rsplit("/", 1)[-1]
    if len(base) > MAX_URL_NAME:
        _stem, dot, ext = base.rpartition(".")
        keep = dot + ext if dot and len(ext) < 16 else ""
        base = base[: MAX_URL_NAME - len(keep)] + keep
    if base.strip(".") == "" and len(base) <= 2:
        return "file"
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

    def send_denied(self, exc: BlobAccessError) -> None:
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
    """``POST /_blobs/upload/{id}``: an S3-style form upload of one file (once)."""

    def prepare(self) -> None:
        self.request.connection.set_max_body_size(MAX_BODY)
        self._file_id = int(self.path_kwargs["file_id"])
        self._denied: BlobAccessError | None = None
        self._pending: _Pending | None = None
        ctype = self.request.headers.get("Content-Type", "")
        match = re.search(r'boundary="?([^";]+)"?', ctype)
        if not ctype.startswith("multipart/form-data") or not match:
            self._parser = None
            return
        self._parser = _MultipartFormParser(match.group(1).encode("latin-1"), self._start_file)

    def _start_file(self, fields: dict[str, str]) -> IO[bytes] | None:
        try:
            self.blobs.check_upload_fields(self._file_id, fields)
            self._pending = self.blobs.open_upload(self._file_id)
        except BlobAccessError as exc:
            self._denied = exc
            return None
        except BlobError as exc:
            self._denied = _used_policy(exc)
            return None
        return self._pending.file

    def data_received(self, chunk: bytes) -> None:
        if self._parser is not None:
            try:
                self._parser.feed(chunk)
            except ValueError as exc:
                self._parser = None
                self._abort()
                self._denied = BlobAccessError("MalformedPOSTRequest", str(exc), status=400)

    def _abort(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.abort()

    def post(self, file_id: str) -> None:
        if self._parser is None and self._denied is None:
            return self.send_s3_error(
                400, "MalformedPOSTRequest", "expected a multipart/form-data body"
            )
        if self._denied is not None:
            self._abort()
            return self.send_denied(self._denied)
        assert self._parser is not None
        if not self._parser.got_file or not self._parser.done or self._pending is None:
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
class PartHandler(_BlobHandler):
    """``PUT /_blobs/parts/{id}/{part}?expires=..&signature=..``: one part."""

    def prepare(self) -> None:
        self.request.connection.set_max_body_size(MAX_BODY)
        self._pending: _Pending | None = None
        self._denied: BlobAccessError | None = None
        file_id = int(self.path_kwargs["file_id"])
        part = int(self.path_kwargs["part"])
        try:
            self.blobs.check_part(
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
            return self.send_denied(exc)
        if self.blobs.expire_if_due(file_id):
            when = _iso(self.blobs.expires_at(file_id) or 0)
            return self.send_s3_error(
                404, "NoSuchKey", f"The file expired at {when}; its contents were deleted"
            )
        try:
            f = open(self.blobs.path(file_id), "rb")  # noqa: SIM115 (closed by the block below)
        except FileNotFoundError:
            return self.send_s3_error(404, "NoSuchKey", "The file has no contents")
        with f:
            size = os.fstat(f.fileno()).st_size
            # the name arrives URL-decoded from the route
            ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
            if name.endswith(".gz"):
                ctype = "application/gzip"
            self.set_header("Content-Type", ctype)
            self.set_header("Content-Length", str(size))
            quoted = urllib.parse.quote(name, safe="")
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
    file_id = r"(?P<file_id>[0-9]{1,18})"
    return [
        (rf"{BLOB_PREFIX}/upload/{file_id}", UploadHandler, kwargs),
        (rf"{BLOB_PREFIX}/parts/{file_id}/(?P<part>[0-9]{{1,5}})", PartHandler, kwargs),
        (rf"{BLOB_PREFIX}/files/{file_id}/(?P<name>[^/]+)", DownloadHandler, kwargs),
    ]
