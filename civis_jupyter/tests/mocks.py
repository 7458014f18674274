"""Mock clients for unit tests of code that uses container scripts."""

from __future__ import annotations

from typing import Any
from unittest import mock

from ..api.response import Response
from ..testing import create_client_mock

__all__ = ["create_client_mock", "create_client_mock_for_container_tests"]


def create_client_mock_for_container_tests(
    script_id: int = -10,
    run_id: int = 100,
    state: str = "succeeded",
    run_outputs: list[Any] | None = None,
    log_outputs: list[Any] | None = None,
) -> mock.NonCallableMagicMock:
    """A mock client set up for code that creates and runs container scripts.

    ``scripts.post_containers`` makes script ``script_id``; starting a run
    (``scripts.post_containers_runs`` or ``jobs.post_runs``) makes run
    ``run_id`` (``queued``); reading it (``scripts.get_containers_runs``,
    ``jobs.get_runs``) shows ``state``; its outputs and logs are
    ``run_outputs`` and ``log_outputs``; ``scripts.post_cancel`` answers the
    run as cancelled.

    Parameters
    ----------
    script_id : int, optional
    run_id : int, optional
    state : str, optional
        The state the run is read in (``"failed"`` runs carry an error).
    run_outputs : list, optional
        Responses listed as the run's outputs.
    log_outputs : list, optional
        Responses listed as the run's log lines.

    Returns
    -------
    unittest.mock.NonCallableMagicMock
        An autospecced client (see :func:`create_client_mock`).
    """
    client = create_client_mock()
    client.scripts.post_containers.return_value = Response({"id": script_id})
    started = Response({"id": run_id, "container_id": script_id, "state": "queued"})
    run: dict[str, Any] = {"id": run_id, "container_id": script_id, "state": state}
    if state == "failed":
        run["error"] = "None"
    current = Response(run)
    for method in (client.scripts.post_containers_runs, client.jobs.post_runs):
        method.return_value = started
    for method in (client.scripts.get_containers_runs, client.jobs.get_runs):
        method.return_value = current
    client.scripts.list_containers_runs_outputs.return_value = run_outputs or []
    client.jobs.list_runs_outputs.return_value = run_outputs or []
    client.jobs.list_runs_logs.return_value = log_outputs or []

    def cancel(_script_id: int) -> Response:
        return Response(dict(current.json(), state="cancelled"))

    client.scripts.post_cancel.side_effect = cancel
    return client
