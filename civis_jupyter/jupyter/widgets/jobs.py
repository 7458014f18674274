"""``%civis_jobs``: browse jobs, their runs, live logs and outputs."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import traitlets

from ...api.errors import CivisAPIError
from .base import StaticFallback, badge, escape
from .run import RunWidget

__all__ = ["JobsBrowser"]

STATES = ["", "queued", "running", "succeeded", "failed", "cancelled", "idle"]


class JobsBrowser(StaticFallback, widgets.VBox):
    """A job browser: filters, pages, runs of the selected job, live run view.

    Parameters
    ----------
    client : APIClient
        The client to browse with.
    page_size : int, optional
        Jobs per page.
    search : str, optional
        Initial search text.
    """

    page = traitlets.Int(1).tag(sync=True)
    page_size = traitlets.Int(10).tag(sync=True)
    state_filter = traitlets.Unicode("").tag(sync=True)
    type_filter = traitlets.Unicode("").tag(sync=True)
    search = traitlets.Unicode("").tag(sync=True)
    mine = traitlets.Bool(False).tag(sync=True)
    job_count = traitlets.Int(allow_none=True).tag(sync=True)
    selected_job = traitlets.Int(allow_none=True).tag(sync=True)
    selected_run = traitlets.Int(allow_none=True).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)

    def __init__(self, client: Any, page_size: int = 10, search: str = "", **kwargs: Any):
        self.client = client
        self._jobs: list[Any] = []
        self._runs: list[Any] = []
        self._me: int | None = None
        self._state = widgets.Dropdown(
            options=[("any state", "")] + [(s, s) for s in STATES[1:]], layout={"width": "140px"}
        )
        self._type = widgets.Dropdown(options=[("any type", "")], layout={"width": "220px"})
        self._search = widgets.Text(
            value=search, placeholder="search names", continuous_update=False
        )
        self._mine = widgets.Checkbox(value=False, description="mine", indent=False)
        self._prev = widgets.Button(icon="angle-left", layout={"width": "36px"})
        self._next = widgets.Button(icon="angle-right", layout={"width": "36px"})
        self._info = widgets.HTML()
        self._list = widgets.Select(options=[], rows=min(page_size, 12), layout={"width": "100%"})
        self._runs_list = widgets.Select(options=[], rows=5, layout={"width": "100%"})
        self._run_again = widgets.Button(description="Run again", icon="play")
        self._cancel = widgets.Button(description="Cancel run", icon="stop", button_style="warning")
        self._run_box = widgets.VBox()
        self._status = widgets.HTML()
        self._state.observe(lambda c: setattr(self, "state_filter", c["new"]), "value")
        self._type.observe(lambda c: setattr(self, "type_filter", c["new"]), "value")
        self._search.observe(lambda c: setattr(self, "search", c["new"]), "value")
        self._mine.observe(lambda c: setattr(self, "mine", c["new"]), "value")
        self._prev.on_click(lambda _b: setattr(self, "page", max(1, self.page - 1)))
        self._next.on_click(lambda _b: setattr(self, "page", self.page + 1))
        self._list.observe(lambda c: setattr(self, "selected_job", c["new"]), "value")
        self._runs_list.observe(lambda c: setattr(self, "selected_run", c["new"]), "value")
        self._run_again.on_click(lambda _b: self.run_again())
        self._cancel.on_click(lambda _b: self.cancel_run())
        filters = widgets.HBox([self._state, self._type, self._search, self._mine])
        pager = widgets.HBox([self._prev, self._next, self._info])
        actions = widgets.HBox([self._run_again, self._cancel])
        super().__init__(
            children=[
                filters,
                pager,
                self._list,
                self._runs_list,
                actions,
                self._status,
                self._run_box,
            ],
            **kwargs,
        )
        self.add_class("civis-jobs")
        self.page_size = page_size
        self.search = search
        self.reload()

    # -- data ---------------------------------------------------------------
    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": self.page_size, "page_num": self.page}
        if self.state_filter:
            params["state"] = self.state_filter
        if self.type_filter:
            params["type"] = self.type_filter
        if self.search:
            params["q"] = self.search
        if self.mine:
            if self._me is None:
                self._me = self.client.users.get_me()["id"]
            params["author"] = str(self._me)
        return params

    def reload(self) -> None:
        """Fetch the current page of jobs with the current filters."""
        try:
            jobs = self.client.jobs.list(**self._params())
        except CivisAPIError as exc:
            self.message = f"Could not list jobs: {exc}"
            self._render_status()
            return
        self.message = ""
        self._jobs = list(jobs)
        headers = getattr(jobs, "headers", None) or {}
        total = headers.get("X-Pagination-Total-Entries")
        self.job_count = int(total) if total is not None else None
        types = sorted(
            {str(j.get("type")) for j in self._jobs if j.get("type")}
            | {v for _label, v in self._type.options if v}
        )
        current = self._type.value
        self._type.options = [("any type", "")] + [(t.replace("JobTypes::", ""), t) for t in types]
        self._type.value = current if current in types else ""
        self._list.options = [
            (f"{j['id']} · {j.get('name') or '(unnamed)'} · {j.get('state') or '-'}", j["id"])
            for j in self._jobs
        ]
        self._list.value = (
            self.selected_job if self.selected_job in {j["id"] for j in self._jobs} else None
        )
        self._render_status()

    @traitlets.observe("state_filter", "type_filter", "search", "mine", "page_size")
    def _filters_changed(self, change: dict[str, Any]) -> None:
        if not hasattr(self, "_list"):
            return
        if self.page != 1:
            self.page = 1
        else:
            self.reload()

    @traitlets.observe("page")
    def _page_changed(self, _change: dict[str, Any]) -> None:
        if hasattr(self, "_list"):
            self.reload()

    @traitlets.observe("selected_job")
    def _job_selected(self, change: dict[str, Any]) -> None:
        job_id = change["new"]
        self._runs = []
        self._runs_list.options = []
        self.selected_run = None
        if job_id is None:
            return
        try:
            self._runs = list(self.client.jobs.list_runs(job_id, limit=20))
        except CivisAPIError as exc:
            self.message = f"Could not list runs of job {job_id}: {exc}"
        self._runs_list.options = [
            (f"run {r['id']} · {r.get('state')} · {r.get('created_at') or ''}", r["id"])
            for r in self._runs
        ]
        if self._runs:
            self._runs_list.value = self._runs[0]["id"]
        self._render_status()

    @traitlets.observe("selected_run")
    def _run_selected(self, change: dict[str, Any]) -> None:
        run_id = change["new"]
        if run_id is None or self.selected_job is None:
            self._run_box.children = []
            return
        self.show_run(self.selected_job, run_id)

    def show_run(self, job_id: int, run_id: int) -> RunWidget:
        """Show the live view of one run.

        Parameters
        ----------
        job_id, run_id : int

        Returns
        -------
        RunWidget
        """
        from ...futures import CivisFuture

        future = CivisFuture(self.client.jobs.get_runs, (job_id, run_id), client=self.client)
        view = RunWidget(future, title=f"job {job_id}")
        self._run_box.children = [view]
        return view

    # -- actions ---------------------------------------------------------------
    def run_again(self) -> RunWidget | None:
        """Start a new run of the selected job and follow it."""
        if self.selected_job is None:
            self.message = "Select a job first."
            self._render_status()
            return None
        try:
            run = self.client.jobs.post_runs(self.selected_job)
        except CivisAPIError as exc:
            self.message = f"Could not start job {self.selected_job}: {exc}"
            self._render_status()
            return None
        self._job_selected({"new": self.selected_job})  # refresh the runs list
        if self.selected_run != run["id"]:
            self.selected_run = run["id"]  # observing it shows the run
        return self._run_box.children[0] if self._run_box.children else None

    def cancel_run(self) -> None:
        """Cancel the selected run."""
        if self.selected_job is None or self.selected_run is None:
            self.message = "Select a run first."
        else:
            try:
                self.client.jobs.delete_runs(self.selected_job, self.selected_run)
                self.message = f"Cancel requested for run {self.selected_run}."
            except CivisAPIError as exc:
                self.message = f"Could not cancel: {exc}"
        self._render_status()

    # -- rendering ---------------------------------------------------------------
    def _render_status(self) -> None:
        total = "?" if self.job_count is None else f"{self.job_count:,}"
        self._info.value = f"page {self.page} · {len(self._jobs)} shown of {total} jobs"
        self._prev.disabled = self.page <= 1
        self._next.disabled = len(self._jobs) < self.page_size
        self._status.value = (
            f'<span style="color:#dc3545">{escape(self.message)}</span>' if self.message else ""
        )

    def static_html(self) -> str:
        """The current page of jobs as an HTML table."""
        rows = "".join(
            f"<tr><td>{escape(j['id'])}</td><td>{escape(j.get('name'))}</td>"
            f"<td>{escape(j.get('type'))}</td><td>{badge(j.get('state'))}</td></tr>"
            for j in self._jobs
        )
        return (
            f"<div class='civis-jobs-static'><div>{self._info.value}</div><table>"
            "<tr><th>id</th><th>name</th><th>type</th><th>state</th></tr>"
            f"{rows}</table></div>"
        )

    def static_text(self) -> str:
        """The current page of jobs as text."""
        lines = [f"{j['id']:>8}  {j.get('state') or '-':<10}  {j.get('name')}" for j in self._jobs]
        return "\n".join([self._info.value, *lines])
