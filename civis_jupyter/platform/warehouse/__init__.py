"""The platform's SQL warehouses: one DuckDB database file per platform database.

:class:`Warehouses` opens (lazily) one :class:`Warehouse` per platform database
id under ``data_dir``. A :class:`Warehouse` is safe to use from many threads:
every operation runs on its own DuckDB cursor (a connection sharing the one
database instance), so reads run concurrently and DuckDB's own transactions
keep writes consistent.

Tables live in the ``public`` schema unless qualified, the way Civis users
expect from Redshift; DuckDB's ``main`` schema is hidden from listings while
it has no tables. A few Redshift functions DuckDB lacks (``getdate``,
``nvl``, ``nvl2``, ``dateadd``, ``charindex``) are provided as macros.

SQL text (users' queries, scripts and the platform's own catalogue SQL) runs
on a *sandboxed* DuckDB instance: ``enable_external_access`` is off and the
configuration is locked, so SQL cannot read, list or write files, attach
databases, install or load extensions, reach the network or ``SET`` those
settings back. DuckDB still lets that instance open its own database file,
write-ahead log and spill directory, so statements that write files or change
attached databases (``COPY``, ``EXPORT``, ``ATTACH``, ``DETACH``, ``INSTALL``,
``LOAD``, ``PREPARE``/``EXECUTE``) are refused before they run; reading those
own files shows nothing the same SQL cannot already query.

The platform's own file work -- loading CSV files into tables, sniffing them,
writing query results to CSV -- runs on a separate in-memory *file* instance
that never sees SQL text from users: it reads or writes the file and hands
the rows to (or takes them from) the sandboxed instance as an Arrow stream.

Modules: ``warehouses`` (the per-database registry), ``database`` (running
and exporting SQL), ``connection`` (the two instances), ``screening``
(refused statements), ``csv_import`` and ``csv_files`` (the file work),
``csv_settings``, ``catalog`` (listings and statistics), ``sql_types``
(``civis_sql_type``), ``macros`` (Redshift functions) and small helpers.
"""

from __future__ import annotations

from .connection import DEFAULT_SCHEMA as DEFAULT_SCHEMA
from .csv_settings import DELIMITERS, CsvDetection, CsvSettings
from .database import Warehouse
from .errors import WarehouseError
from .models import Column, ExportResult, QueryResult, TableInfo
from .sql_types import civis_sql_type
from .sqltext import quote_identifier
from .warehouses import Warehouses

__all__ = [
    "DELIMITERS",
    "Column",
    "CsvDetection",
    "CsvSettings",
    "ExportResult",
    "QueryResult",
    "TableInfo",
    "Warehouse",
    "WarehouseError",
    "Warehouses",
    "civis_sql_type",
    "quote_identifier",
]
