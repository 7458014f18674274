"""Redshift functions DuckDB lacks, provided as macros."""

from __future__ import annotations

#: Redshift functions DuckDB lacks, as macros in ``main`` (found through the
#: search path ``public,main``).
_REDSHIFT_MACROS = (
    "getdate() AS current_timestamp::TIMESTAMP",
    "nvl(a, b) AS coalesce(a, b)",
    "nvl2(a, b, c) AS CASE WHEN a IS NOT NULL THEN b ELSE c END",
    "dateadd(part, n, d) AS d + (n * ('1 ' || part)::INTERVAL)",
    "charindex(needle, haystack) AS strpos(haystack, needle)",
)
