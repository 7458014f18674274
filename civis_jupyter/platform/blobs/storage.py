"""File contents on disk: atomic writes, multipart parts, expiry.

:class:`BlobStore` keeps each platform file's bytes at ``<root>/files/<id>``.
Contents appear atomically (written to ``tmp/`` then moved or hard-linked
into place); an upload through a URL never replaces complete contents (a
second upload, a part after completion or a second completion is refused),
and every publication is an atomic create-if-absent, so two racing uploads or
completions cannot both win. Multipart uploads keep their parts in
``parts/<id>/`` until :meth:`BlobStore.complete_multipart` joins them.

Files have an expiry time (kept in ``expiry/<id>``); once it passes, their
bytes are deleted, on access and by a sweep run at opening and at most once a
minute as URLs are made; bytes uploaded after that are dropped (like an S3
lifecycle rule deleting them at once). Temporary files left by a crash are
removed at opening. Bodies are streamed to and from disk; a file is never held
in memory whole.
"""

from __future__ import annotations

import heapq
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = ["CHUNK", "BlobConflict", "BlobError", "BlobStore", "PendingWrite"]

#: Seconds between two sweeps of expired files' bytes (sweeps run as URLs are made).
SWEEP_INTERVAL = 60.0
#: Bytes copied at a time.
CHUNK = 256 * 1024
_SUBDIRS = ("files", "parts", "tmp", "expiry")


class BlobError(Exception):
    """A file's contents are missing or incomplete."""


class BlobConflict(BlobError):
    """A file's contents are complete already: they cannot be written again."""


class PendingWrite:
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


class BlobStore:
    """File contents of a platform, on disk.

    Parameters
    ----------
    data_dir : Path
        Directory for the contents (``files/``, ``parts/``, ``tmp/``,
        ``expiry/`` inside). Opening it removes temporary files left by a
        crash and the bytes of files that have expired.
    """

    def __init__(self, data_dir: Path):
        self.root = Path(data_dir)
        self._ensure_dirs()
        self._lock = threading.Lock()
        self._file_locks: weakref.WeakValueDictionary[int, threading.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._expiry: dict[int, float] = {}
        self._due: list[tuple[float, int]] = []
        self._next_sweep = 0.0
        self.clean_temporary()
        self._load_expiry()
        self.sweep()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r})"

    def _ensure_dirs(self) -> None:
        for sub in _SUBDIRS:
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def _file_lock(self, file_id: int) -> threading.Lock:
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

    def _pending(self, publish: Callable[[Path], None]) -> PendingWrite:
        return PendingWrite(self.root / "tmp", publish)

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

    def open_upload(self, file_id: int) -> PendingWrite:
        """Start the one upload of a file's contents.

        Parameters
        ----------
        file_id : int
            Platform file id.

        Returns
        -------
        PendingWrite
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

    def open_part(self, file_id: int, part: int) -> PendingWrite:
        """Start writing one part of a multipart upload (a part may be sent again).

        Returns
        -------
        PendingWrite
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
