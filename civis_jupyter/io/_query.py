"""Quick queries: ``query_civis``."""

from __future__ import annotations

from ..api.client import APIClient
from ..futures import CivisFuture
from ._common import _client


def query_civis(
    sql: str,
    database: str | int,
    client: APIClient | None = None,
    credential_id: int | None = None,
    preview_rows: int = 10,
    polling_interval: float | None = None,
    hidden: bool = True,
) -> CivisFuture:
    """Run SQL through the quick query path; the result holds up to ``preview_rows`` rows.

    Returns
    -------
    CivisFuture
        Resolves to the query, with ``result_rows`` and ``result_columns``.
    """
    client = _client(client)
    db_id = client.get_database_id(database)
    cred = credential_id or client.default_database_credential_id
    query = client.queries.post(db_id, sql, preview_rows, credential=cred, hidden=hidden)
    return CivisFuture(
        client.queries.get, (query["id"],), polling_interval=polling_interval, client=client
    )
