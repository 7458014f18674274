"""``%civis_files``: find files, see metadata, preview, download and upload.

Downloads go through the browser (a link to the file's signed URL), never
into the server's working directory; uploads come from the browser too.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import ipywidgets as widgets
import pandas as pd
import traitlets

from ...api.errors import CivisAPIError
from .base import StaticFallback, escape, local_time, page_buttons, plural, relative_time

__all__ = ["FilesBrowser", "is_internal_file", "preview_bytes"]

#: Files that SQL exports make for the client's own use (results, manifests).
_INTERNAL = re.compile(r"^(output|manifest)([_-][\w-]*)?\.(csv|tsv|json)(\.gz)?$", re.IGNORECASE)


def is_internal_file(name: Any) -> bool:
    """Whether a file is a SQL export's own output (``output.csv.gz``, ``manifest.json``).

    Parameters
    ----------
    name : str

    Returns
    -------
    bool
    """
    return bool(_INTERNAL.match(str(name or "")))


PREVIEW_BYTES = 64 * 1024
PREVIEW_ROWS = 10


def preview_bytes(name: str, data: bytes, truncated: bool) -> str:
    """Render the start of a file as HTML: a CSV head, pretty JSON, or text.

    Parameters
    ----------
    name : str
        The file name (its extension guides the choice).
    data : bytes
        The first bytes of the file.
    truncated : bool
        Whether ``data`` is only the start of the file.

    Returns
    -------
    str
        HTML.
    """
    lower = name.lower()
    if lower.endswith(".gz"):
        import zlib

        try:
            data = zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(data, PREVIEW_BYTES)
        except zlib.error:
            return "<i>compressed file (gzip) that could not be previewed</i>"
        lower = lower[:-3]
        truncated = True
    if lower.endswith((".csv", ".tsv")):
        text = data.decode("utf-8", "replace")
        if truncated and "\n" in text:
            text = text[: text.rindex("\n")]
        try:
            frame = pd.read_csv(
                io.StringIO(text), sep="\t" if lower.endswith(".tsv") else ",", nrows=PREVIEW_ROWS
            )
            return frame.to_html(index=False, border=0, na_rep="NULL")
        except (pd.errors.ParserError, ValueError, UnicodeDecodeError):
            pass
    if lower.endswith(".json") and not truncated:
        try:
            pretty = json.dumps(json.loads(data), indent=2)[:PREVIEW_BYTES]
            return f"<pre>{escape(pretty)}</pre>"
        except ValueError:
            pass
    if b"\x00" in data[:1024]:
        return "<i>binary file: no preview</i>"
    lines = data.decode("utf-8", "replace").splitlines()[:40]
    more = "\n…" if truncated or len(lines) == 40 else ""
    return f"<pre>{escape(chr(10).join(lines))}{escape(more)}</pre>"


class FilesBrowser(StaticFallback, widgets.VBox):
    """A file browser over Civis files.

    Find files by name (paged, with the total count), by project, or among
    a job run's outputs; see a file's metadata and a preview; download it
    through the browser; upload a file from the browser. SQL exports' own
    files (``output.csv.gz``, ``manifest.json``) are left out unless asked for.

    Parameters
    ----------
    client : APIClient
    page_size : int, optional
        Files listed per page.
    search : str, optional
        Initial search text (default: every file).
    """

    search = traitlets.Unicode("").tag(sync=True)
    source = traitlets.Unicode("search").tag(sync=True)
    project_id = traitlets.Int(allow_none=True).tag(sync=True)
    job_id = traitlets.Int(allow_none=True).tag(sync=True)
    run_id = traitlets.Int(allow_none=True).tag(sync=True)
    page = traitlets.Int(1).tag(sync=True)
    file_count = traitlets.Int(allow_none=True).tag(sync=True)
    internal = traitlets.Bool(False).tag(sync=True)
    selected_file = traitlets.Int(allow_none=True).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)

    def __init__(self, client: Any, page_size: int = 10, search: str = "", **kwargs: Any):
        self.client = client
        self.page_size = page_size
        self._files: list[dict[str, Any]] = []
        self._left_out = 0
        self._meta: dict[str, Any] | None = None
        self._source = widgets.ToggleButtons(
            options=[("by name", "search"), ("in a project", "project"), ("run outputs", "run")],
            value="search",
            tooltips=["Search files by name", "Files of a project", "Outputs of a job run"],
        )
        self._query = widgets.Text(
            value=search, placeholder="file name (empty: all)", continuous_update=False
        )
        self._project = widgets.Dropdown(options=[], description="project")
        self._job = widgets.Text(placeholder="job id", layout={"width": "8em"})
        self._run = widgets.Text(placeholder="run id", layout={"width": "8em"})
        self._find = widgets.Button(description="Find", icon="search", tooltip="List the files")
        self._internal = widgets.Checkbox(
            value=False,
            description="include SQL export files",
            indent=False,
            tooltip="Also list the files SQL exports make (output.csv.gz, manifest.json)",
        )
        self._internal.layout.width = "max-content"
        self._prev, self._next = page_buttons(self)
        self._info = widgets.HTML()
        self._list = widgets.Select(options=[], rows=min(page_size, 12), layout={"width": "auto"})
        self._meta_view = widgets.HTML()
        self._preview = widgets.HTML(layout={"max_height": "300px", "overflow": "auto"})
        self._download = widgets.HTML()
        self._upload = widgets.FileUpload(
            description="Upload", multiple=False, tooltip="Upload a file from this computer"
        )
        self._status = widgets.HTML()
        self._source.observe(lambda c: setattr(self, "source", c["new"]), "value")
        self._query.observe(lambda c: setattr(self, "search", c["new"]), "value")
        self._project.observe(lambda c: setattr(self, "project_id", c["new"]), "value")
        self._internal.observe(lambda c: setattr(self, "internal", c["new"]), "value")
        self._find.on_click(lambda _b: self._find_clicked())
        self._list.observe(lambda c: setattr(self, "selected_file", c["new"]), "value")
        self._upload.observe(self._uploaded, "value")
        wrap = {"flex_flow": "row wrap", "align_items": "center"}
        self._filters = widgets.HBox(
            [self._query, self._project, self._job, self._run, self._find, self._internal],
            layout=wrap,
        )
        super().__init__(
            children=[
                self._source,
                self._filters,
                widgets.HBox([self._prev, self._next, self._info], layout=wrap),
                self._list,
                self._meta_view,
                self._preview,
                widgets.HBox([self._download, self._upload], layout=wrap),
                self._status,
            ],
            layout={"width": "100%", "max_width": "100%"},
            **kwargs,
        )
        self.add_class("civis-files")
        self.search = search
        self._show_inputs()
        self._load_projects()
        self.find()

    # -- finding ---------------------------------------------------------------
    def _load_projects(self) -> None:
        try:
            projects = self.client.projects.list(limit=50)
        except CivisAPIError:
            projects = []
        self._project.options = [(p.get("name") or f"project {p['id']}", p["id"]) for p in projects]
        self._project.value = None

    def _show_inputs(self) -> None:
        shown = {
            "search": (self._query, self._internal),
            "project": (self._project,),
            "run": (self._job, self._run, self._find),
        }[self.source]
        for child in self._filters.children:
            child.layout.display = None if child in shown else "none"

    def _find_clicked(self) -> None:
        for box, name in ((self._job, "job_id"), (self._run, "run_id")):
            text = box.value.strip()
            setattr(self, name, int(text) if text.isdigit() else None)
        self.find()

    def find(self) -> list[dict[str, Any]]:
        """List the current page of files from the current source.

        Returns
        -------
        list of dict
            ``id``, ``name`` (and more when known) of each file listed.
        """
        try:
            files = self._find_files()
            self.message = "" if files else "No files found."
        except CivisAPIError as exc:
            files = []
            self.message = f"Could not list files: {exc}"
        self._files = files
        self._list.options = [(self._label(f), f["id"]) for f in files]
        self._list.value = None
        self._render_status()
        return files

    def _label(self, file: dict[str, Any]) -> str:
        when = relative_time(file.get("updated_at") or file.get("created_at"))
        return f"{file.get('name')} · #{file['id']}" + (f" · {when}" if when else "")

    def _keep(self, files: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = [f for f in files if self.internal or not is_internal_file(f.get("name"))]
        self._left_out = len(files) - len(kept)
        return kept

    def _find_files(self) -> list[dict[str, Any]]:
        self._left_out = 0
        if self.source == "project":
            self.file_count = None
            if self.project_id is None:
                return []
            project = self.client.projects.get(self.project_id)
            files = [{"id": f["id"], "name": f.get("name")} for f in project.get("files") or []]
            self.file_count = len(files)
            return files
        if self.source == "run":
            self.file_count = None
            if not self.job_id or not self.run_id:
                return []
            outputs = self.client.jobs.list_runs_outputs(self.job_id, self.run_id)
            files = [
                {"id": o["object_id"], "name": o.get("name")}
                for o in outputs
                if o.get("object_type") == "File"
            ]
            self.file_count = len(files)
            return files
        results = self.client.search.list(
            query=self.search or "*",
            type="file",
            limit=self.page_size,
            offset=(self.page - 1) * self.page_size,
        )
        total = results.get("total_results")
        self.file_count = int(total) if total is not None else None
        return self._keep(
            [
                {"id": r["id"], "name": r.get("name"), "updated_at": r.get("updated_at")}
                for r in results["results"] or []
                if str(r.get("type", "file")).lower() == "file"
            ]
        )

    @traitlets.observe("source", "project_id")
    def _source_changed(self, change: dict[str, Any]) -> None:
        if not hasattr(self, "_list"):
            return
        if change["name"] == "source":
            self._show_inputs()
        self._reset_page()

    @traitlets.observe("search", "internal")
    def _search_changed(self, _change: dict[str, Any]) -> None:
        if hasattr(self, "_list") and self.source == "search":
            self._reset_page()

    def _reset_page(self) -> None:
        if self.page != 1:
            self.page = 1  # observing the page finds the files
        else:
            self.find()

    @traitlets.observe("page")
    def _page_changed(self, _change: dict[str, Any]) -> None:
        if hasattr(self, "_list"):
            self.find()

    # -- a selected file -----------------------------------------------------------
    @traitlets.observe("selected_file")
    def _file_selected(self, change: dict[str, Any]) -> None:
        file_id = change["new"]
        self._meta = None
        self._meta_view.value = self._preview.value = self._download.value = ""
        if file_id is None:
            return
        try:
            meta = self.client.files.get(file_id).json()
        except CivisAPIError as exc:
            self.message = f"Could not read file {file_id}: {exc}"
            self._render_status()
            return
        self._meta = meta
        self._meta_view.value = self._meta_html(meta)
        self._preview.value = self._preview_html(meta)
        self._download.value = self._download_html(meta)

    @staticmethod
    def _meta_html(meta: dict[str, Any]) -> str:
        size = meta.get("file_size")
        rows = [
            ("name", meta.get("name")),
            ("id", meta.get("id")),
            ("size", plural(size, "byte") if isinstance(size, int) else size),
            ("created", local_time(meta.get("created_at"))),
            ("expires", local_time(meta.get("expires_at"))),
            ("author", (meta.get("author") or {}).get("username")),
        ]
        cells = "".join(
            f"<tr><th style='text-align:left;padding-right:8px'>{k}</th><td>{escape(v)}</td></tr>"
            for k, v in rows
            if v not in (None, "")
        )
        return f"<table class='civis-file-meta'>{cells}</table>"

    @staticmethod
    def _download_html(meta: dict[str, Any]) -> str:
        url = meta.get("file_url") or meta.get("download_url")
        if not url:
            return ""
        name = str(meta.get("name") or f"civis_file_{meta.get('id')}")
        return (
            f'<a class="civis-file-download jp-Button" href="{escape(url)}" '
            f'download="{escape(name)}" target="_blank" rel="noopener" '
            'style="padding:4px 10px;border:1px solid #888;border-radius:3px;'
            f'text-decoration:none">⤓ Download {escape(name)}</a>'
        )

    def download_url(self) -> str | None:
        """The signed URL the Download link of the selected file points at.

        Returns
        -------
        str or None
            ``None`` if no file is selected.
        """
        if self._meta is None:
            return None
        return self._meta.get("file_url") or self._meta.get("download_url")

    def _preview_html(self, meta: dict[str, Any]) -> str:
        url = meta.get("file_url") or meta.get("download_url")
        if not url:
            return "<i>no download URL</i>"
        session = self.client._transport.session
        with session.get(url, stream=True, timeout=60) as response:
            if not response.ok:
                return f"<i>preview unavailable ({response.status_code})</i>"
            data = response.raw.read(PREVIEW_BYTES + 1, decode_content=True)
        truncated = len(data) > PREVIEW_BYTES
        return preview_bytes(str(meta.get("name") or ""), data[:PREVIEW_BYTES], truncated)

    # -- upload -------------------------------------------------------------------------
    def _uploaded(self, change: dict[str, Any]) -> None:
        for item in change["new"] or ():
            self.upload(item["name"], bytes(item["content"]))
        if change["new"]:
            self._upload.value = ()

    def upload(self, name: str, data: bytes) -> int | None:
        """Store bytes as a new Civis file (the Upload button does this).

        Parameters
        ----------
        name : str
            The file name.
        data : bytes
            Its contents.

        Returns
        -------
        int or None
            The new file's ID.
        """
        from ... import io as civis_io

        if not name:
            self.message = "Choose a file to upload."
            self._render_status()
            return None
        file_id = civis_io.file_to_civis(io.BytesIO(data), name, client=self.client)
        self.message = f"Uploaded {name} as file {file_id}."
        self._render_status()
        return file_id

    # -- rendering -----------------------------------------------------------------------
    def _info_text(self) -> str:
        shown = len(self._files)
        if self.source != "search":
            return plural(shown, "file")
        first = (self.page - 1) * self.page_size + 1
        total = "?" if self.file_count is None else f"{self.file_count:,}"
        span = f"{first:,}-{first + shown + self._left_out - 1:,}" if shown else "none"
        left_out = (
            f" · {plural(self._left_out, 'SQL export file')} left out" if self._left_out else ""
        )
        return f"files {span} of {total} · page {self.page}{left_out}"

    def _render_status(self) -> None:
        self._info.value = escape(self._info_text())
        listed = len(self._files) + self._left_out
        paged = self.source == "search"
        self._prev.disabled = not paged or self.page <= 1
        self._next.disabled = (
            not paged
            or listed < self.page_size
            or (self.file_count is not None and self.page * self.page_size >= self.file_count)
        )
        self._status.value = f"<span>{escape(self.message)}</span>" if self.message else ""

    def static_html(self) -> str:
        """The files listed as an HTML list."""
        items = "".join(
            f"<li>{escape(f.get('name'))} <span style='opacity:.7'>#{escape(f['id'])}</span></li>"
            for f in self._files
        )
        return (
            f"<div class='civis-files-static'><div>{self._info.value}</div>"
            f"<ul>{items}</ul>{self._meta_view.value}</div>"
        )

    def static_text(self) -> str:
        """The files listed as text."""
        lines = [f"{f['id']:>8}  {f.get('name')}" for f in self._files]
        return "\n".join([self._info_text(), *lines])
