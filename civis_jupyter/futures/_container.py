"""ContainerFuture: a CivisFuture over a run of a container script."""

from __future__ import annotations

from typing import Any

from ..api.client import APIClient
from ._future import CivisFuture


class ContainerFuture(CivisFuture):
    """A future over a run of a container script.

    Parameters
    ----------
    job_id, run_id : int
        The container script and its run.
    max_n_retries : int, optional
        Start a new run up to this many times if a run fails.
    polling_interval : float, optional
    client : APIClient, optional
    poll_on_creation : bool, optional
    """

    def __init__(
        self,
        job_id: int,
        run_id: int,
        max_n_retries: int = 0,
        polling_interval: float | None = None,
        client: Any = None,
        poll_on_creation: bool = True,
    ):
        client = client if client is not None else APIClient()
        super().__init__(
            client.scripts.get_containers_runs,
            (int(job_id), int(run_id)),
            polling_interval=polling_interval,
            client=client,
            poll_on_creation=poll_on_creation,
            max_retries=max_n_retries,
        )
