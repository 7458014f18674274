"""CSV export settings (``csvSettings``) and CSV detection results (``detectedInfo``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import WarehouseError
from .models import Column

#: Civis delimiter names -> characters.
DELIMITERS = {"comma": ",", "tab": "\t", "pipe": "|"}
_DELIMITER_NAMES = {v: k for k, v in DELIMITERS.items()}
_FILENAME_PREFIX = re.compile(r"[^/\\\x00]{1,200}")


@dataclass
class CsvSettings:
    """How a query result is written to CSV (the Civis ``csvSettings``).

    Attributes
    ----------
    include_header : bool
        Write a header row.
    compression : str
        ``"gzip"`` or ``"none"``.
    column_delimiter : str
        ``"comma"``, ``"tab"`` or ``"pipe"``.
    unquoted : bool
        Never quote fields.
    filename_prefix : str or None
        Prefix of the output file names.
    force_multifile : bool
        Export as a set of files described by a manifest.
    max_file_size : int or None
        Upper bound (bytes) for each file of a multi-file export.
    """

    include_header: bool = True
    compression: str = "gzip"
    column_delimiter: str = "comma"
    unquoted: bool = False
    filename_prefix: str | None = None
    force_multifile: bool = False
    max_file_size: int | None = None

    @classmethod
    def from_api(cls, settings: dict[str, Any] | None) -> CsvSettings:
        """Build settings from a camelCase ``csvSettings`` body (missing = defaults).

        Parameters
        ----------
        settings : dict or None
            The API's ``csvSettings`` object.

        Returns
        -------
        CsvSettings
        """
        s = settings or {}
        out = cls()
        for key, attr in (
            ("includeHeader", "include_header"),
            ("compression", "compression"),
            ("columnDelimiter", "column_delimiter"),
            ("unquoted", "unquoted"),
            ("filenamePrefix", "filename_prefix"),
            ("forceMultifile", "force_multifile"),
            ("maxFileSize", "max_file_size"),
        ):
            if s.get(key) is not None:
                setattr(out, attr, s[key])
        if out.compression not in ("gzip", "none"):
            raise WarehouseError(
                f"csvSettings.compression must be gzip or none, not {out.compression!r}"
            )
        if out.column_delimiter not in DELIMITERS:
            raise WarehouseError(
                "csvSettings.columnDelimiter must be comma, tab or pipe, "
                f"not {out.column_delimiter!r}"
            )
        prefix = out.filename_prefix
        if prefix is not None and (
            not isinstance(prefix, str)
            or not _FILENAME_PREFIX.fullmatch(prefix)
            or prefix in (".", "..")
        ):
            raise WarehouseError(
                "csvSettings.filenamePrefix must be a file name of 1 to 200 characters "
                "without / or \\"
            )
        return out

    @property
    def extension(self) -> str:
        """File name extension of the exported files."""
        return ".csv.gz" if self.compression == "gzip" else ".csv"


@dataclass
class CsvDetection:
    """What a CSV file looks like (the Civis ``detectedInfo``).

    Attributes
    ----------
    include_header : bool
        First row is a header.
    column_delimiter : str
        ``"comma"``, ``"tab"`` or ``"pipe"``.
    compression : str
        ``"gzip"`` or ``"none"``.
    table_columns : list of Column
        Detected names and Civis SQL types.
    """

    include_header: bool
    column_delimiter: str
    compression: str
    table_columns: list[Column]

    def to_api(self) -> dict[str, Any]:
        """The camelCase ``detectedInfo`` object."""
        return {
            "includeHeader": self.include_header,
            "columnDelimiter": self.column_delimiter,
            "compression": self.compression,
            "tableColumns": [{"name": c.name, "sqlType": c.sql_type} for c in self.table_columns],
        }
