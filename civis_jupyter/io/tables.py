"""Tables: SQL queries, exports to files and DataFrames, and imports.

Same functions and signatures as the official client's ``civis.io``, with
three differences users notice: reading results is faster (the gzip CSV is
parsed by Arrow), ``dataframe_to_civis`` keeps nulls apart from empty
strings and skips the CSV preprocessing job when the frame's own types say
what the columns are, and waiting on runs uses the shared poller.

The functions live in one-job private modules (``_read``: read_civis and
read_civis_sql; ``_export``: exports to Civis and local files; ``_query``:
query_civis; ``_write``: uploads of DataFrames and CSV files;
``_table_import``: civis_file_to_table; ``_common``: shared helpers); this
module re-exports them.
"""

from ..api.naming import split_schema_tablename
from ._common import DELIMITERS
from ._common import UNSET as UNSET
from ._export import civis_to_csv, civis_to_multifile_csv, export_to_civis_file
from ._query import query_civis
from ._read import read_civis, read_civis_sql
from ._table_import import EXISTING_TABLE_ROWS as EXISTING_TABLE_ROWS
from ._table_import import civis_file_to_table
from ._write import csv_to_civis, dataframe_to_civis

__all__ = [
    "DELIMITERS",
    "civis_file_to_table",
    "civis_to_csv",
    "civis_to_multifile_csv",
    "csv_to_civis",
    "dataframe_to_civis",
    "export_to_civis_file",
    "query_civis",
    "read_civis",
    "read_civis_sql",
    "split_schema_tablename",
]
