"""Finding things: ``/search`` across object kinds, and a project's contents.

Both only ever show objects the user may read (a warehouse table: one of a
database the user may read).
"""

from __future__ import annotations

from typing import Any

from ..contract import Reply, Request, handles
from ..store import Query
from ._common import JOB_KINDS, int_param, shape

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
    """Objects the user may read whose name contains the query (``*`` or empty: everything)."""
    store = req.store
    text = str(req.query.get("query") or "").strip().lower()
    owner = req.query.get("owner")
    archived = req.query.get("archived")
    offset = max(0, int_param(req.query.get("offset"), "offset", 0) or 0)
    limit = max(0, int_param(req.query.get("limit"), "limit", 10) or 0)
    authors = None
    if owner:
        found = store.objects.page(Query(("users",), equals={"username": str(owner)}), None)[1]
        authors = {u["id"] for u in found if u.get("username") == owner}
    results: list[dict[str, Any]] = []
    for type_name, kinds in _kinds_for(req.query.get("type")).items():
        query = Query(
            tuple(kinds),
            archived=False if archived in (None, "false", False) else None,
            authors=authors,
            text=None if text in ("", "*") else text,
            text_fields=("name", "fileName"),
            text_in_id=False,
        )
        for obj in store.objects.page(query, req.user)[1]:
            results.append(_result(type_name, obj, text))
    results.sort(key=lambda r: (-r["score"], r["name"].lower(), r["id"]))
    page = results[offset : offset + limit]
    aggregations: dict[str, int] = {}
    for r in results:
        aggregations[r["type"]] = aggregations.get(r["type"], 0) + 1
    body = {"totalResults": len(results), "aggregations": aggregations, "results": page}
    return Reply(body=shape(req, body))


def _result(type_name: str, obj: dict[str, Any], text: str) -> dict[str, Any]:
    name = str(obj.get("name") or obj.get("fileName") or "")
    author = obj.get("author") or {}
    last = obj.get("lastRun") or {}
    return {
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


@handles("get", "projects/{project_id}")
def get_project(req: Request) -> Reply:
    """A project with the objects it holds, by type."""
    store = req.store
    project = store.objects.get("projects", req.path_params["project_id"], req.user)
    items = [store.objects.raw(i) for i in store.projects.items(project["id"])]
    visible = [o for o in items if o and store.permissions.level(o, req.user)]
    body = dict(project)
    for field, kinds in PROJECT_FIELDS.items():
        body[field] = [
            {**o, "fileName": o.get("name"), "expired": False}
            for o in visible
            if store.objects.kind_of(o["id"]) in kinds
        ]
    body["scripts"] = [
        {**o, "type": store.objects.kind_of(o["id"])}
        for o in visible
        if (store.objects.kind_of(o["id"]) or "").startswith("scripts")
    ]
    body["allObjects"] = [
        {"objectId": o["id"], "objectType": store.objects.kind_of(o["id"]), "name": o.get("name")}
        for o in visible
    ]
    body["myPermissionLevel"] = store.permissions.level(project, req.user)
    return Reply(body=shape(req, body))
