"""Finding things: ``/search`` across object kinds, and a project's contents."""

from __future__ import annotations

from typing import Any

from ..api import Reply, Request, handles
from ._common import JOB_KINDS, shape

#: search ``type`` -> store kinds it covers.
SEARCH_KINDS = {
    "file": ["files"],
    "table": ["tables"],
    "project": ["projects"],
    "workflow": ["workflows"],
    "report": ["reports"],
    "notebook": ["notebooks"],
    "model": ["models"],
}

#: project list field -> store kinds listed in it.
PROJECT_FIELDS = {
    "files": ["files"],
    "tables": ["tables"],
    "workflows": ["workflows"],
    "reports": ["reports"],
    "notebooks": ["notebooks"],
    "models": ["models"],
    "projects": ["projects"],
}


def _kinds_for(search_type: str | None) -> dict[str, list[str]]:
    job_kinds = sorted(JOB_KINDS)
    scripts = [k for k in job_kinds if k.startswith("scripts")]
    imports = [k for k in job_kinds if k.startswith("imports") or k.startswith("files/")]
    table = {**SEARCH_KINDS, "script": scripts, "import": imports, "query": ["queries"]}
    if not search_type:
        return table
    wanted = {t.strip().lower() for t in search_type.split(",")}
    return {t: kinds for t, kinds in table.items() if t in wanted}


@handles("get", "search")
def search(req: Request) -> Reply:
    """Objects whose name contains the query (``*`` or empty: everything)."""
    store = req.platform.store
    text = (req.query.get("query") or "").strip().lower()
    owner = req.query.get("owner")
    archived = req.query.get("archived")
    results: list[dict[str, Any]] = []
    for type_name, kinds in _kinds_for(req.query.get("type")).items():
        for kind in kinds:
            for obj in store.list(kind, req.user, archived=None):
                name = str(obj.get("name") or obj.get("fileName") or "")
                if text not in ("", "*") and text not in name.lower():
                    continue
                if archived in (None, "false") and obj.get("archived"):
                    continue
                author = obj.get("author") or {}
                if owner and owner != author.get("username"):
                    continue
                last = obj.get("lastRun") or {}
                results.append(
                    {
                        "score": 1.0 if name.lower() == text else 0.5,
                        "type": type_name,
                        "id": obj["id"],
                        "name": name,
                        "typeName": type_name.title(),
                        "updatedAt": obj.get("updatedAt"),
                        "owner": author.get("username"),
                        "useCount": None,
                        "lastRunId": last.get("id"),
                        "lastRunState": last.get("state"),
                        "lastRunStart": last.get("startedAt"),
                        "lastRunFinish": last.get("finishedAt"),
                        "public": False,
                        "lastRunException": last.get("error"),
                        "autoShare": None,
                    }
                )
    results.sort(key=lambda r: (-r["score"], r["name"].lower(), r["id"]))
    offset = int(req.query.get("offset") or 0)
    limit = int(req.query.get("limit") or 10)
    page = results[offset : offset + limit]
    aggregations = {}
    for r in results:
        aggregations[r["type"]] = aggregations.get(r["type"], 0) + 1
    body = {"totalResults": len(results), "aggregations": aggregations, "results": page}
    return Reply(body=shape(req, body))


@handles("get", "projects/{project_id}")
def get_project(req: Request) -> Reply:
    """A project with the objects it holds, by type."""
    store = req.platform.store
    project = store.get("projects", req.path_params["project_id"], req.user)
    items = [store.raw(i) for i in store.project_items(project["id"])]
    visible = [o for o in items if o and store.permission_level(o, req.user)]
    body = dict(project)
    for field, kinds in PROJECT_FIELDS.items():
        body[field] = [
            {**o, "fileName": o.get("name"), "expired": False}
            for o in visible
            if store.kind_of(o["id"]) in kinds
        ]
    body["scripts"] = [
        {**o, "type": store.kind_of(o["id"])}
        for o in visible
        if (store.kind_of(o["id"]) or "").startswith("scripts")
    ]
    body["allObjects"] = [
        {"objectId": o["id"], "objectType": store.kind_of(o["id"]), "name": o.get("name")}
        for o in visible
    ]
    body["myPermissionLevel"] = store.permission_level(project, req.user)
    return Reply(body=shape(req, body))
