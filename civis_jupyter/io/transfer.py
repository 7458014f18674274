"""Copying a table from one Civis database to another (a ``Dbsync`` import)."""

from __future__ import annotations

import uuid
from typing import Any

from ..api.client import APIClient
from ..futures import CivisFuture

__all__ = ["transfer_table"]


def transfer_table(
    source_db: str | int,
    dest_db: str | int,
    source_table: str,
    dest_table: str,
    job_name: str | None = None,
    client: APIClient | None = None,
    source_credential_id: int | None = None,
    dest_credential_id: int | None = None,
    polling_interval: float | None = None,
    **advanced_options: Any,
) -> CivisFuture:
    """Copy a table to another database (or another name) with a Dbsync import.

    Parameters
    ----------
    source_db, dest_db : str or int
        The databases, by name or id.
    source_table, dest_table : str
        ``"schema.table"`` in each.
    job_name : str, optional
        The import's name (default: a random one).
    client : APIClient, optional
    source_credential_id, dest_credential_id : int, optional
        Credentials for each database (default: your default database credential).
    polling_interval : float, optional
        Fixed seconds between status checks (default: adaptive).
    **advanced_options
        Advanced options of the sync (``imports.post_syncs``), e.g.
        ``existing_table_rows="drop"``.

    Returns
    -------
    CivisFuture
        Resolves when the copy has run.

    Examples
    --------
    >>> civis.io.transfer_table("local", "archive", "public.sales", "public.sales_2024")
    ... # doctest: +SKIP
    """
    client = client or APIClient()
    default_credential = None
    if source_credential_id is None or dest_credential_id is None:
        default_credential = client.default_database_credential_id
    source = {
        "remote_host_id": client.get_database_id(source_db),
        "credential_id": source_credential_id or default_credential,
    }
    destination = {
        "remote_host_id": client.get_database_id(dest_db),
        "credential_id": dest_credential_id or default_credential,
    }
    name = job_name or f"transfer_table {uuid.uuid4().hex[:12]}"
    job = client.imports.post(name, "Dbsync", True, source=source, destination=destination)
    client.imports.post_syncs(
        job["id"],
        source={"path": source_table},
        destination={"path": dest_table},
        advanced_options=advanced_options,
    )
    run = client.imports.post_runs(job["id"])
    return CivisFuture(
        client.jobs.get_runs,
        (job["id"], run["run_id"]),
        polling_interval=polling_interval,
        client=client,
        poll_on_creation=False,
    )
