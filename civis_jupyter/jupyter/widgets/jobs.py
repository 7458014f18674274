"""``%civis_jobs``: browse jobs of every type, their runs, live logs and outputs."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import traitlets

from ...api.errors import CivisAPIError
from ..runs import LIVE_STATES, parse_time
from .base import (
    StaticFallback,
    badge,
    escape,
    fmt_seconds,
    local_time,
    page_buttons,
    plural,
    relative_time,
)
from .run import RunWidget

__all__ = ["JOB_TYPES", "JobsBrowser", "type_label"]

STATES = ["queued", "running", "succeeded", "failed", "cancelled", "idle"]
#: Civis job types and how the browser names them.
JOB_TYPES = {
    "JobTypes::Query": "SQL query",
    "JobTypes::SqlRunner": "SQL script",
    "JobTypes::ContainerDocker": "Container script",
    "JobTypes::PythonDocker": "Python script",
    "JobTypes::RDocker": "R script",
    "JobTypes::JavaScript": "JavaScript script",
    "JobTypes::CustomScript": "Custom script",
    "JobTypes::Dbt": "dbt script",
    "JobTypes::Import": "Import",
    "JobTypes::CsvImport": "CSV import",
    "JobTypes::UrlImport": "URL import",
    "JobTypes::CsvPreprocess": "CSV preprocessing",
    "JobTypes::CsvExport": "CSV export",
    "JobTypes::CassNcoa": "CASS/NCOA",
    "JobTypes::CivisDataMatch": "Civis Data Match",
    "JobTypes::Geocode": "Geocode",
    "JobTypes::IdentityResolution": "Identity resolution",
    "JobTypes::MediaOptimization": "Media optimization",
}


def type_label(job_type: Any) -> str:
    """A readable name for a ``JobTypes::...`` value."""
    text = str(job_type or "")
    return JOB_TYPES.get(text, text.replace("JobTypes::", "") or "-")


def _run_label(run: Any) -> str:
    started, finished = parse_time(run.get("started_at")), parse_time(run.get("finished_at"))
    took = f" · took {fmt_seconds(finished - started)}" if started and finished else ""
    when = relative_time(run.get("created_at"))
    return f"run {run['id']} · {run.get('state') or '-'} · {when}{took}"


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
    job_id, run_id : int, optional
        A job (and one of its runs) to open at once.
    """

    page = traitlets.Int(1).tag(sync=True)
    page_size = traitlets.Int(10).tag(sync=True)
    state_filter = traitlets.Unicode("").tag(sync=True)
    type_filter = traitlets.Unicode("").tag(sync=True)
    search = traitlets.Unicode("").tag(sync=True)
    mine = traitlets.Bool(False).tag(sync=True)
    hidden = traitlets.Bool(False).tag(sync=True)
    job_count = traitlets.Int(allow_none=True).tag(sync=True)
    selected_job = traitlets.Int(allow_none=True).tag(sync=True)
    selected_run = traitlets.Int(allow_none=True).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        client: Any,
        page_size: int = 10,
        search: str = "",
        job_id: int | None = None,
        run_id: int | None = None,
        **kwargs: Any,
    ):
        self.client = client
        self._jobs: list[Any] = []
        self._runs: list[Any] = []
        self._me: int | None = None
        self._pinned: Any = None  # a job opened by id, listed even off the current page
        self._view: RunWidget | None = None
        self._state = widgets.Dropdown(
            options=[("any state", "")] + [(s, s) for s in STATES],
            layout={"width": "max-content"},
        )
        self._type = widgets.Dropdown(
            options=[("any type", "")] + [(label, t) for t, label in JOB_TYPES.items()],
            layout={"width": "max-content"},
        )
        self._search = widgets.Text(
            value=search,
            placeholder="search names",
            continuous_update=False,
            layout={"width": "16em"},
        )
        self._mine = widgets.Checkbox(value=False, description="mine only", indent=False)
        self._mine.layout.width = "max-content"
        self._hidden = widgets.Checkbox(
            value=False,
            description="include hidden jobs",
            indent=False,
            tooltip="Also list the jobs made behind the scenes (by %%civis_sql, civis.io, ...)",
        )
        self._hidden.layout.width = "max-content"
        self._prev, self._next = page_buttons(self)
        self._info = widgets.HTML()
        self._list = widgets.Select(options=[], rows=min(page_size, 12), layout={"width": "auto"})
        self._runs_list = widgets.Select(options=[], rows=4, layout={"width": "auto"})
        self._run_again = widgets.Button(
            description="Run again", icon="play", tooltip="Start a new run of this job"
        )
        self._cancel = widgets.Button(
            description="Cancel run",
            icon="stop",
            button_style="warning",
            tooltip="Cancel the selected run",
            layout={"display": "none"},
        )
        self._run_box = widgets.VBox()
        self._status = widgets.HTML()
        self._state.observe(lambda c: setattr(self, "state_filter", c["new"]), "value")
        self._type.observe(lambda c: setattr(self, "type_filter", c["new"]), "value")
        self._search.observe(lambda c: setattr(self, "search", c["new"]), "value")
        self._mine.observe(lambda c: setattr(self, "mine", c["new"]), "value")
        self._hidden.observe(lambda c: setattr(self, "hidden", c["new"]), "value")
        self._list.observe(lambda c: setattr(self, "selected_job", c["new"]), "value")
        self._runs_list.observe(lambda c: setattr(self, "selected_run", c["new"]), "value")
        self._run_again.on_click(lambda _b: self.run_again())
        self._cancel.on_click(lambda _b: self.cancel_run())
        wrap = {"flex_flow": "row wrap", "align_items": "center"}
        filters = widgets.HBox(
            [self._state, self._type, self._search, self._mine, self._hidden], layout=wrap
        )
        pager = widgets.HBox([self._prev, self._next, self._info], layout=wrap)
        actions = widgets.HBox([self._run_again, self._cancel], layout=wrap)
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
            layout={"width": "100%", "max_width": "100%"},
            **kwargs,
        )
        self.add_class("civis-jobs")
        self.page_size = page_size
        self.search = search
        if job_id is not None:
            self._pin(job_id)
        self.reload()
        if job_id is not None:
            self.selected_job = job_id
            if run_id is not None and run_id in {r["id"] for r in self._runs}:
                self.selected_run = run_id

    # -- data ---------------------------------------------------------------
    def _pin(self, job_id: int) -> None:
        try:
            self._pinned = self.client.jobs.get(job_id)
        except CivisAPIError as exc:
            self.message = f"Could not read job {job_id}: {exc}"

    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": self.page_size, "page_num": self.page}
        if self.state_filter:
            params["state"] = self.state_filter
        if self.type_filter:
            params["type"] = self.type_filter
        if self.search:
            params["q"] = self.search
        if self.hidden:
            params["hidden"] = True
        if self.mine:
            if self._me is None:
                self._me = self.client.users.get_me()["id"]
            params["author"] = str(self._me)
        return params

    def _label(self, job: Any) -> str:
        when = relative_time(job.get("updated_at"))
        return (
            f"{job.get('name') or '(unnamed)'} · {type_label(job.get('type'))} · "
            f"{job.get('state') or '-'} · {when} · #{job['id']}"
        )

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
        types = {str(j.get("type")) for j in self._jobs if j.get("type")} - set(JOB_TYPES)
        if types - {v for _label, v in self._type.options}:
            current = self._type.value
            extra = [(type_label(t), t) for t in sorted(types)]
            self._type.options = [*self._type.options, *extra]
            self._type.value = current
        listed = list(self._jobs)
        if self._pinned is not None and self._pinned["id"] not in {j["id"] for j in listed}:
            listed.insert(0, self._pinned)
        self._list.options = [(self._label(j), j["id"]) for j in listed]
        ids = {j["id"] for j in listed}
        self._list.value = self.selected_job if self.selected_job in ids else None
        self._render_status()

    @traitlets.observe("state_filter", "type_filter", "search", "mine", "hidden", "page_size")
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

    def _job(self, job_id: int | None) -> Any:
        for job in [*self._jobs, self._pinned]:
            if job is not None and job["id"] == job_id:
                return job
        return None

    @traitlets.observe("selected_job")
    def _job_selected(self, change: dict[str, Any]) -> None:
        job_id = change["new"]
        self._runs = []
        self._runs_list.options = []
        self.selected_run = None
        if job_id is None:
            return
        if self._list.value != job_id and job_id in dict(self._list.options).values():
            self._list.value = job_id
        try:
            self._runs = list(self.client.jobs.list_runs(job_id, limit=20))
        except CivisAPIError as exc:
            self.message = f"Could not list runs of job {job_id}: {exc}"
        self._runs_list.options = [(_run_label(r), r["id"]) for r in self._runs]
        if self._runs:
            self._runs_list.value = self._runs[0]["id"]
        self._render_status()

    @traitlets.observe("selected_run")
    def _run_selected(self, change: dict[str, Any]) -> None:
        run_id = change["new"]
        if run_id is None or self.selected_job is None:
            self._run_box.children = []
            self._view = None
            self._show_cancel()
            return
        if self._runs_list.value != run_id and run_id in {r["id"] for r in self._runs}:
            self._runs_list.value = run_id
        self.show_run(self.selected_job, run_id)

    def show_run(self, job_id: int, run_id: int) -> RunWidget:
        """Show the live view of one run, titled by its job's name.

        Parameters
        ----------
        job_id, run_id : int

        Returns
        -------
        RunWidget
        """
        from ...futures import CivisFuture

        if self._view is not None:
            self._view.unobserve(self._view_state, "state")
        future = CivisFuture(self.client.jobs.get_runs, (job_id, run_id), client=self.client)
        job = self._job(job_id)
        title = (job.get("name") if job is not None else None) or f"job {job_id}"
        view = RunWidget(future, title=title)
        view._open.layout.display = "none"  # it is in the job browser already
        self._view = view
        view.observe(self._view_state, "state")
        self._run_box.children = [view]
        self._show_cancel()
        return view

    def _view_state(self, _change: dict[str, Any]) -> None:
        self._show_cancel()

    def _show_cancel(self) -> None:
        live = self._view is not None and self._view.state in LIVE_STATES
        self._cancel.layout.display = None if live else "none"

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
        return self._view

    def cancel_run(self) -> bool:
        """Cancel the selected run, if it is still queued or running.

        Returns
        -------
        bool
            Whether the run is now cancelled.
        """
        view = self._view
        if view is None or view.state not in LIVE_STATES:
            self.message = "The selected run has ended: nothing to cancel."
            self._render_status()
            return False
        try:
            done = view.cancel()
        except CivisAPIError as exc:
            self.message = f"Could not cancel: {exc}"
            done = False
        else:
            self.message = f"Cancelled run {view.run_id}." if done else "The run had ended."
        runs = {r["id"]: r for r in self._runs}
        if self.selected_job is not None and view.run_id in runs:
            try:
                self._runs = list(self.client.jobs.list_runs(self.selected_job, limit=20))
            except CivisAPIError:
                pass
            self._runs_list.options = [(_run_label(r), r["id"]) for r in self._runs]
            self._runs_list.value = view.run_id
        self._show_cancel()
        self._render_status()
        return done

    # -- rendering ---------------------------------------------------------------
    def _render_status(self) -> None:
        total = "?" if self.job_count is None else f"{self.job_count:,}"
        first = (self.page - 1) * self.page_size + 1
        shown = len(self._jobs)
        span = f"{first:,}-{first + shown - 1:,}" if shown else "none"
        self._info.value = f"jobs {span} of {total} · page {self.page}"
        self._prev.disabled = self.page <= 1
        self._next.disabled = shown < self.page_size or (
            self.job_count is not None and first + shown - 1 >= self.job_count
        )
        self._status.value = (
            f'<span style="color:#dc3545">{escape(self.message)}</span>' if self.message else ""
        )

    def static_html(self) -> str:
        """The current page of jobs as an HTML table."""
        cell = "padding:2px 8px;text-align:left;white-space:nowrap"
        rows = "".join(
            f"<tr style='background:{'#f6f8fa' if i % 2 else 'transparent'}'>"
            f"<td style='{cell}'>{escape(j.get('name'))}</td>"
            f"<td style='{cell}'>{escape(type_label(j.get('type')))}</td>"
            f"<td style='{cell}'>{badge(j.get('state'))}</td>"
            f"<td style='{cell}' title='{escape(local_time(j.get('updated_at')))}'>"
            f"{escape(relative_time(j.get('updated_at')))}</td>"
            f"<td style='{cell};text-align:right'>{escape(j['id'])}</td></tr>"
            for i, j in enumerate(self._jobs)
        )
        head = "".join(
            f"<th style='{cell}'>{h}</th>" for h in ("name", "type", "state", "updated", "id")
        )
        return (
            f"<div class='civis-jobs-static'><div>{self._info.value}</div>"
            "<table style='border-collapse:collapse;max-width:100%'>"
            f"<thead><tr style='border-bottom:1px solid #ccc'>{head}</tr></thead>"
            f"<tbody>{rows}</tbody></table></div>"
        )

    def static_text(self) -> str:
        """The current page of jobs as text."""
        lines = [
            f"{j['id']:>8}  {j.get('state') or '-':<10}  {type_label(j.get('type')):<18}  "
            f"{j.get('name')}"
            for j in self._jobs
        ]
        count = plural(self.job_count, "job") if self.job_count is not None else "? jobs"
        return "\n".join([f"{count} (page {self.page})", *lines])
