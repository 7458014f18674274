"""``return_as="polars"``: polars DataFrames from query results and files.

polars comes with the ``polars`` extra and is imported only when asked for.
"""

from __future__ import annotations

import io
from typing import Any

__all__ = ["polars", "polars_from_arrow", "polars_from_csv"]

_MISSING = "return_as='polars' needs polars: pip install 'civis-jupyter[polars]'"


def polars() -> Any:
    """The polars module, or a one-line ImportError naming the extra."""
    try:
        import polars as pl
    except ImportError as exc:
        raise ImportError(_MISSING) from exc
    return pl


def polars_from_arrow(table: Any) -> Any:
    """A polars DataFrame holding an Arrow table (no copy where the types allow)."""
    return polars().from_arrow(table)


def polars_from_csv(data: bytes, compression: str | None = None, **read_kwargs: Any) -> Any:
    """A polars DataFrame from CSV bytes, decompressed first when ``compression`` says so.

    Parameters
    ----------
    data : bytes
    compression : {'gzip', 'bz2', 'xz', 'zip', None}, optional
    **read_kwargs
        Passed to :func:`polars.read_csv`.

    Returns
    -------
    polars.DataFrame
    """
    pl = polars()
    if not data:
        return pl.DataFrame()
    if compression == "gzip":
        import gzip

        data = gzip.decompress(data)
    elif compression == "bz2":
        import bz2

        data = bz2.decompress(data)
    elif compression == "xz":
        import lzma

        data = lzma.decompress(data)
    elif compression == "zip":
        import zipfile

        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if len(names) != 1:
                raise ValueError(f"a zip file holding one CSV file was expected, not {names}")
            data = archive.read(names[0])
    elif compression is not None:
        raise ValueError(f"unsupported compression {compression!r}")
    return pl.read_csv(io.BytesIO(data), **read_kwargs)
