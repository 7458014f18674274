"""Exported CSV files on disk: their names, gzip compression and splitting into parts."""

from __future__ import annotations

import collections
import gzip
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .csv_settings import _FILENAME_PREFIX, CsvSettings
from .errors import WarehouseError


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _abs_path(path: Path) -> str:
    return str(Path(path).resolve())


def _export_path(directory: Path, prefix: str) -> Path:
    """The plain CSV file an export writes, always directly inside ``directory``."""
    target = Path(directory) / f"{prefix}.csv"
    if (
        not _FILENAME_PREFIX.fullmatch(prefix)
        or prefix in (".", "..")
        or target.resolve().parent != Path(directory).resolve()
    ):
        raise WarehouseError("the export's file name prefix must be a plain file name")
    return target


def _gzip_file(path: Path, level: int = 1, chunk: int = 8 * 2**20) -> Path:
    """Compress ``x.csv`` into ``x.csv.gz`` and remove the original.

    Chunks are compressed in parallel (zlib releases the GIL) as consecutive
    gzip members, which every gzip reader treats as one stream; at most a few
    chunks are in memory at once.
    """
    target = path.with_name(path.name + ".gz")
    workers = max(1, min(4, os.cpu_count() or 1))
    with open(path, "rb") as src, open(target, "wb") as dst:
        if path.stat().st_size <= chunk or workers == 1:
            with gzip.GzipFile(fileobj=dst, mode="wb", compresslevel=level, mtime=0) as gz:
                while data := src.read(chunk):
                    gz.write(data)
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="civis-gzip") as pool:
                pending: collections.deque[Future[bytes]] = collections.deque()
                while data := src.read(chunk):
                    pending.append(pool.submit(gzip.compress, data, level, mtime=0))
                    if len(pending) >= 2 * workers:
                        dst.write(pending.popleft().result())
                while pending:
                    dst.write(pending.popleft().result())
    path.unlink()
    return target


def _split_csv(path: Path, settings: CsvSettings) -> list[Path]:
    """Split an exported CSV into parts of at most ``max_file_size`` bytes.

    Rows are kept whole (a quoted field may span lines, so rows are tracked by
    quote parity); every part repeats the header when there is one.
    """
    limit = max(1, int(settings.max_file_size or 0))
    opener = gzip.open if settings.compression == "gzip" else open
    stem = path.name[: -len(settings.extension)]
    parts: list[Path] = []
    header = b""
    with opener(path, "rb") as src:
        if settings.include_header:
            header = _read_row(src)
        out = None
        size = 0
        while True:
            row = _read_row(src)
            if not row:
                break
            if out is None or (size > 0 and size + len(row) > limit):
                if out is not None:
                    out.close()
                part = path.with_name(f"{stem}_part{len(parts):04d}{settings.extension}")
                parts.append(part)
                out = opener(part, "wb")
                out.write(header)
                size = len(header)
            out.write(row)
            size += len(row)
        if out is not None:
            out.close()
    if not parts:
        return [path]
    path.unlink()
    return parts


def _read_row(src: Any) -> bytes:
    row = b""
    while True:
        line = src.readline()
        if not line:
            return row
        row += line
        if row.count(b'"') % 2 == 0:
            return row
