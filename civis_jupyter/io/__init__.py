"""Moving data in and out of Civis: tables, SQL, files.

The same functions, with the same signatures, as the official client's
``civis.io``.
"""

from .files import (
    civis_to_file,
    dataframe_to_file,
    file_id_from_run_output,
    file_to_civis,
    file_to_dataframe,
    file_to_json,
    json_to_civis,
    json_to_file,
)
from .tables import (
    civis_file_to_table,
    civis_to_csv,
    civis_to_multifile_csv,
    csv_to_civis,
    dataframe_to_civis,
    export_to_civis_file,
    query_civis,
    read_civis,
    read_civis_sql,
    split_schema_tablename,
)
from .transfer import transfer_table

__all__ = [
    "civis_file_to_table",
    "civis_to_csv",
    "civis_to_file",
    "civis_to_multifile_csv",
    "csv_to_civis",
    "dataframe_to_civis",
    "dataframe_to_file",
    "export_to_civis_file",
    "file_id_from_run_output",
    "file_to_civis",
    "file_to_dataframe",
    "file_to_json",
    "json_to_civis",
    "json_to_file",
    "query_civis",
    "read_civis",
    "read_civis_sql",
    "split_schema_tablename",
    "transfer_table",
]
