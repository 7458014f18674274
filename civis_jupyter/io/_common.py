"""Shared pieces of the table functions: the delimiters, the client, SQL runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..api.client import APIClient
from ..futures import CivisFuture
from .files import http_session

DELIMITERS = {",": "comma", "\t": "tab", "|": "pipe"}


class _Unset:
    """Marks ``use_pandas`` as not given (it is deprecated)."""

    def __repr__(self) -> str:
        return "<not given>"


UNSET: Any = _Unset()


def _client(client: APIClient | None) -> APIClient:
    return client or APIClient()


def _sql_run(
    client: APIClient,
    sql: str,
    database: str | int,
    job_name: str | None,
    credential_id: int | None,
    hidden: bool,
    csv_settings: Mapping[str, Any] | None,
    sql_params_arguments: Mapping[str, Any] | None,
    polling_interval: float | None,
    make_future: Callable[..., CivisFuture] = CivisFuture,
) -> CivisFuture:
    """Create a SQL script, start it, and return the future of its run."""
    db_id = client.get_database_id(database)
    cred = credential_id or client.default_database_credential_id
    extra: dict[str, Any] = {}
    for key, value in (sql_params_arguments or {}).items():
        if key not in ("params", "arguments"):
            raise ValueError("sql_params_arguments takes only 'params' and 'arguments'")
        extra[key] = value
    script = client.scripts.post_sql(
        job_name or "civis_jupyter export",
        sql,
        db_id,
        cred,  # type: ignore[arg-type]  # None: the platform takes the user's default
        hidden=hidden,
        csv_settings=dict(csv_settings or {}),
        **extra,
    )
    run = client.scripts.post_sql_runs(script["id"])
    return make_future(
        client.scripts.get_sql_runs,
        (script["id"], run["id"]),
        polling_interval=polling_interval,
        client=client,
    )


def _download(client: APIClient, url: str) -> bytes:
    response = http_session(client).get(url, timeout=600)
    if not response.ok:
        raise OSError(f"Downloading the query result failed ({response.status_code}).")
    return response.content
