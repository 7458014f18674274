"""``%civis_files``: find files, see metadata, preview, download and upload."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd
import traitlets

from ...api.errors import CivisAPIError
from .base import StaticFallback, escape

__all__ = ["FilesBrowser", "preview_bytes"]

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

    Find files by search text, by project, or among a job run's outputs; see
    a file's metadata and a preview; download it to the working directory;
    upload a file from the working directory.

    Parameters
    ----------
    client : APIClient
    page_size : int, optional
        Files listed per search.
    search : str, optional
        Initial search text.
    workdir : str or Path, optional
        Where downloads go and uploads come from (default: the current directory).
    """

    search = traitlets.Unicode("").tag(sync=True)
    source = traitlets.Unicode("search").tag(sync=True)
    project_id = traitlets.Int(allow_none=True).tag(sync=True)
    job_id = traitlets.Int(allow_none=True).tag(sync=True)
    run_id = traitlets.Int(allow_none=True).tag(sync=True)
    selected_file = traitlets.Int(allow_none=True).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        client: Any,
        page_size: int = 10,
        search: str = "",
        workdir: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ):
        self.client = client
        self.page_size = page_size
        self.workdir = Path(workdir or os.getcwd())
        self._files: list[dict[str, Any]] = []
        self._meta: dict[str, Any] | None = None
        self._source = widgets.ToggleButtons(
            options=[("search", "search"), ("project", "project"), ("run outputs", "run")],
            value="search",
        )
        self._query = widgets.Text(value=search, placeholder="file name", continuous_update=False)
        self._project = widgets.Dropdown(options=[], description="project")
        self._job = widgets.IntText(description="job", layout={"width": "160px"})
        self._run = widgets.IntText(description="run", layout={"width": "160px"})
        self._find = widgets.Button(description="Find", icon="search")
        self._list = widgets.Select(options=[], rows=min(page_size, 12), layout={"width": "100%"})
        self._meta_view = widgets.HTML()
        self._preview = widgets.HTML(layout={"max_height": "300px", "overflow": "auto"})
        self._download = widgets.Button(description="Download", icon="download")
        self._upload_choice = widgets.Dropdown(options=[], description="local file")
        self._upload = widgets.Button(description="Upload", icon="upload")
        self._status = widgets.HTML()
        self._source.observe(lambda c: setattr(self, "source", c["new"]), "value")
        self._query.observe(lambda c: setattr(self, "search", c["new"]), "value")
        self._project.observe(lambda c: setattr(self, "project_id", c["new"]), "value")
        self._find.on_click(lambda _b: self.find())
        self._list.observe(lambda c: setattr(self, "selected_file", c["new"]), "value")
        self._download.on_click(lambda _b: self.download())
        self._upload.on_click(lambda _b: self.upload(self._upload_choice.value))
        super().__init__(
            children=[
                self._source,
                widgets.HBox([self._query, self._project, self._job, self._run, self._find]),
                self._list,
                self._meta_view,
                self._preview,
                widgets.HBox([self._download, self._upload_choice, self._upload]),
                self._status,
            ],
            **kwargs,
        )
        self.add_class("civis-files")
        self.search = search
        self._refresh_local_files()
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

    def find(self) -> list[dict[str, Any]]:
        """List files from the current source (search, project or run outputs).

        Returns
        -------
        list of dict
            ``id``, ``name`` (and more when known) of each file found.
        """
        self.job_id = self._job.value or self.job_id
        self.run_id = self._run.value or self.run_id
        try:
            files = self._find_files()
            self.message = "" if files else "No files found."
        except CivisAPIError as exc:
            files = []
            self.message = f"Could not list files: {exc}"
        self._files = files
        self._list.options = [(f"{f['id']} · {f.get('name')}", f["id"]) for f in files]
        self._list.value = None
        self._render_status()
        return files

    def _find_files(self) -> list[dict[str, Any]]:
        if self.source == "project":
            if self.project_id is None:
                return []
            project = self.client.projects.get(self.project_id)
            return [{"id": f["id"], "name": f.get("name")} for f in project.get("files") or []]
        if self.source == "run":
            if not self.job_id or not self.run_id:
                return []
            outputs = self.client.jobs.list_runs_outputs(self.job_id, self.run_id)
            return [
                {"id": o["object_id"], "name": o.get("name")}
                for o in outputs
                if o.get("object_type") == "File"
            ]
        results = self.client.search.list(
            query=self.search or "*", type="file", limit=self.page_size
        )
        return [
            {"id": r["id"], "name": r.get("name"), "updated_at": r.get("updated_at")}
            for r in results["results"] or []
            if str(r.get("type", "file")).lower() == "file"
        ]

    @traitlets.observe("source", "project_id")
    def _source_changed(self, _change: dict[str, Any]) -> None:
        if hasattr(self, "_list"):
            self.find()

    @traitlets.observe("search")
    def _search_changed(self, _change: dict[str, Any]) -> None:
        if hasattr(self, "_list") and self.source == "search":
            self.find()

    # -- a selected file -----------------------------------------------------------
    @traitlets.observe("selected_file")
    def _file_selected(self, change: dict[str, Any]) -> None:
        file_id = change["new"]
        self._meta = None
        self._meta_view.value = ""
        self._preview.value = ""
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

    @staticmethod
    def _meta_html(meta: dict[str, Any]) -> str:
        size = meta.get("file_size")
        rows = [
            ("id", meta.get("id")),
            ("name", meta.get("name")),
            ("size", f"{size:,} bytes" if isinstance(size, int) else size),
            ("created", meta.get("created_at")),
            ("expires", meta.get("expires_at")),
            ("author", (meta.get("author") or {}).get("username")),
        ]
        cells = "".join(
            f"<tr><th>{k}</th><td>{escape(v)}</td></tr>" for k, v in rows if v is not None
        )
        return f"<table class='civis-file-meta'>{cells}</table>"

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

    # -- transfer ---------------------------------------------------------------------
    def download(self) -> Path | None:
        """Download the selected file into the working directory.

        Returns
        -------
        pathlib.Path or None
            Where it was written.
        """
        if self._meta is None:
            self.message = "Select a file first."
            self._render_status()
            return None
        from ... import io as civis_io

        name = Path(str(self._meta.get("name") or f"civis_file_{self._meta['id']}")).name
        target = self.workdir / name
        if target.exists():
            stem, suffix = target.stem, target.suffix
            n = 1
            while target.exists():
                target = self.workdir / f"{stem} ({n}){suffix}"
                n += 1
        partial = target.with_name(target.name + ".part")
        with open(partial, "wb") as out:
            civis_io.civis_to_file(self._meta["id"], out, client=self.client)
        partial.replace(target)
        self.message = f"Downloaded to {target.name}."
        self._refresh_local_files()
        self._render_status()
        return target

    def upload(self, filename: str | None) -> int | None:
        """Upload a file from the working directory.

        Parameters
        ----------
        filename : str
            A file name in the working directory.

        Returns
        -------
        int or None
            The new file's ID.
        """
        if not filename:
            self.message = "Choose a local file to upload."
            self._render_status()
            return None
        from ... import io as civis_io

        path = self.workdir / filename
        with open(path, "rb") as buf:
            file_id = civis_io.file_to_civis(buf, path.name, client=self.client)
        self.message = f"Uploaded {path.name} as file {file_id}."
        self._render_status()
        return file_id

    def _refresh_local_files(self) -> None:
        names = sorted(
            p.name for p in self.workdir.iterdir() if p.is_file() and not p.name.startswith(".")
        )
        self._upload_choice.options = names

    # -- rendering -----------------------------------------------------------------------
    def _render_status(self) -> None:
        self._status.value = f"<span>{escape(self.message)}</span>" if self.message else ""

    def static_html(self) -> str:
        """The files found as an HTML list."""
        items = "".join(
            f"<li>{escape(f['id'])} · {escape(f.get('name'))}</li>" for f in self._files
        )
        return f"<div class='civis-files-static'><ul>{items}</ul>{self._meta_view.value}</div>"

    def static_text(self) -> str:
        """The files found as text."""
        return "\n".join(f"{f['id']:>8}  {f.get('name')}" for f in self._files) or "(no files)"
