"""Schema-driven behaviour for every operation without a hand-written one.

Operations are recognised by the shape of their path: collections (list and
create), items (get, replace, update, delete), and the sub-resources every
Civis object has (archive, shares, projects, transfer, clone, dependencies,
runs). Objects live in the store under a kind made of the path's literal
segments (``workflows/{id}/executions`` -> ``workflows/executions``, with the
parent's id recorded), and every answer is shaped onto the operation's
response schema: all keys present, unknown ones null, never invented data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..api.naming import ARRAY_RESPONSE_PATHS
from .api import ApiError, Reply, Request
from .behaviours._common import paginate, shape

__all__ = ["classify", "handle", "kind_of_path"]

PAGING = frozenset({"limit", "page_num", "order", "order_dir", "iterator"})
SUBRESOURCES = frozenset(
    {"archive", "shares", "projects", "transfer", "clone", "dependencies", "runs"}
)


def kind_of_path(segments: list[str]) -> str:
    """The store kind for a collection path: its literal segments joined."""
    return "/".join(s for s in segments if not s.startswith("{"))


def classify(op: Any) -> tuple[str, list[str], int]:
    """Recognise an operation's pattern.

    Parameters
    ----------
    op : Operation

    Returns
    -------
    tuple of (str, list of str, int)
        The pattern name, the path segments of the object it acts on, and the
        index where the sub-resource starts (``len(segments)`` if none).
    """
    segs = op.segments
    # Find the last "{param}/<subresource>" pair that names a known sub-resource.
    for i in range(len(segs) - 1, 0, -1):
        if segs[i] in SUBRESOURCES and segs[i - 1].startswith("{"):
            return segs[i], segs[:i], i
    if segs[-1].startswith("{"):
        return "item", segs, len(segs)
    return "collection", segs, len(segs)


def _parent(segments: list[str], params: Mapping[str, Any]) -> dict[str, Any]:
    """Path parameters that identify the parent of a nested collection."""
    return {s[1:-1]: params.get(s[1:-1]) for s in segments if s.startswith("{")}


def _object(req: Request, target: list[str], level: str = "read") -> dict[str, Any]:
    """The object an item path points at, checked against its parent."""
    *collection, last = target
    obj_id = req.path_params.get(last[1:-1])
    if not isinstance(obj_id, int):
        raise ApiError(404, "The requested resource could not be found.", "not_found")
    obj = req.platform.store.get(None, obj_id, req.user, level)
    parent = _parent(collection, req.path_params)
    if parent and obj.get("_parent") not in (None, parent):
        raise ApiError(404, "The requested resource could not be found.", "not_found")
    return obj


def _matches(obj: Mapping[str, Any], name: str, wanted: Any) -> bool:
    from .server import snake_to_camel

    key = snake_to_camel(name)
    if key not in obj:
        return True  # a filter on something we do not store: no restriction
    have = obj[key]
    if isinstance(wanted, list):
        return have in wanted or str(have) in [str(w) for w in wanted]
    if isinstance(have, str) and isinstance(wanted, str):
        return have.lower() == wanted.lower()
    return have == wanted or str(have) == str(wanted)


def _list(req: Request, target: list[str]) -> Reply:
    kind = kind_of_path(target)
    archived_q = req.query.get("archived")
    archived: bool | None = False
    if archived_q in ("true", True):
        archived = True
    elif archived_q == "all":
        archived = None
    items = req.platform.store.list(kind, req.user, archived=archived)
    parent = _parent(target, req.path_params)
    if parent:
        items = [o for o in items if o.get("_parent") == parent]
    for name, value in req.query.items():
        if name in PAGING or name == "archived" or value is None:
            continue
        if name in ("author", "authors"):
            ids = [int(v) for v in str(value).split(",") if v.strip().isdigit()]
            items = [o for o in items if (o.get("author") or {}).get("id") in ids]
            continue
        items = [o for o in items if _matches(o, name, value)]
    shaped = shape(req, items)
    params = {p.get("name"): p for p in req.operation.raw.get("parameters") or ()}
    if "limit" not in params:
        return Reply(body=shaped)
    limit = params["limit"]
    order = params.get("order") or {}
    keys = {name: (lambda o, n=name: _field(o, n)) for name in order.get("enum") or ["id"]}
    return paginate(
        req,
        shaped,
        default_limit=int(limit.get("default") or 50),
        max_limit=limit.get("maximum"),
        order_keys=keys if "order" in params else None,
        default_order=order.get("default") if "order" in params else None,
        default_dir=str((params.get("order_dir") or {}).get("default") or "asc"),
    )


def _field(obj: Mapping[str, Any], name: str) -> Any:
    from .server import snake_to_camel

    value = obj.get(name, obj.get(snake_to_camel(name)))
    return value if not isinstance(value, (dict, list)) else str(value)


def _create(req: Request, target: list[str]) -> Reply:
    fields = dict(req.body or {})
    parent = _parent(target, req.path_params)
    if parent:
        first = target[: target.index(next(s for s in target if s.startswith("{"))) + 1]
        _object(req, first, "write")
        fields["_parent"] = parent
    obj = req.platform.store.create(kind_of_path(target), fields, req.user)
    return Reply(body=shape(req, obj))


def _empty_or_shaped(req: Request, obj: Any) -> Reply:
    if req.operation.status == 204 or req.operation.response_schema is None:
        return Reply(status=204 if req.operation.status == 204 else None)
    return Reply(body=shape(req, obj))


def _item(req: Request, target: list[str]) -> Reply:
    store = req.platform.store
    verb = req.operation.verb
    if verb == "get":
        return Reply(body=shape(req, _object(req, target)))
    obj = _object(req, target, "manage" if verb == "delete" else "write")
    if verb == "delete":
        store.delete(None, obj["id"], req.user)
        return _empty_or_shaped(req, obj)
    fields = dict(req.body or {})
    if "_parent" in obj:
        fields["_parent"] = obj["_parent"]
    if verb == "put":
        updated = store.replace(None, obj["id"], fields, req.user)
    else:
        updated = store.update(None, obj["id"], fields, req.user)
    return _empty_or_shaped(req, updated)


def _share_summary(req: Request, obj: Mapping[str, Any]) -> dict[str, Any]:
    store = req.platform.store
    levels: dict[str, dict[str, list[dict[str, Any]]]] = {
        "readers": {"users": [], "groups": []},
        "writers": {"users": [], "groups": []},
        "owners": {"users": [], "groups": []},
    }
    names = {"read": "readers", "write": "writers", "manage": "owners"}
    author = obj.get("author")
    if author:
        levels["owners"]["users"].append({"id": author["id"], "name": author.get("name")})
    users = groups = 0
    for share in store.shares(obj["id"]):
        bucket = levels[names[share["level"]]]
        if share["principal_kind"] == "user":
            user = store.user(share["principal_id"]) or {}
            bucket["users"].append({"id": share["principal_id"], "name": user.get("name")})
            users += 1
        else:
            group = store.raw(share["principal_id"]) or {}
            bucket["groups"].append({"id": share["principal_id"], "name": group.get("name")})
            groups += 1
    return {**levels, "totalUserShares": users, "totalGroupShares": groups}


def _shares(req: Request, target: list[str], rest: list[str]) -> Reply:
    store = req.platform.store
    verb = req.operation.verb
    obj = _object(req, target, "read" if verb == "get" else "manage")
    if verb == "get":
        return Reply(body=shape(req, [_share_summary(req, obj)]))
    principal = rest[1] if len(rest) > 1 else None  # "users" or "groups"
    kind = "user" if principal == "users" else "group"
    if verb == "delete":
        pid_name = rest[2][1:-1] if len(rest) > 2 else ""
        store.unshare(obj["id"], kind, int(req.path_params.get(pid_name)))
        return Reply(status=204)
    body = req.body or {}
    ids = body.get("userIds" if kind == "user" else "groupIds") or []
    level = body.get("permissionLevel") or "read"
    for pid in ids:
        if kind == "user" and store.user(int(pid)) is None:
            raise ApiError(404, f"user {pid} not found", "not_found")
        store.share(obj["id"], kind, int(pid), level)
    return Reply(body=shape(req, _share_summary(req, obj)))


def _projects(req: Request, target: list[str], rest: list[str]) -> Reply:
    store = req.platform.store
    verb = req.operation.verb
    obj = _object(req, target, "read" if verb == "get" else "write")
    if verb == "get":
        projects = [store.raw(pid) for pid in store.projects_of(obj["id"])]
        visible = [p for p in projects if p and store.permission_level(p, req.user)]
        return Reply(body=shape(req, visible))
    project_id = int(req.path_params.get(rest[1][1:-1]))
    store.get("projects", project_id, req.user, "write")
    if verb == "put":
        store.add_to_project(project_id, obj["id"])
    else:
        store.remove_from_project(project_id, obj["id"])
    return Reply(status=204 if req.operation.status == 204 else None)


def _transfer(req: Request, target: list[str]) -> Reply:
    store = req.platform.store
    obj = _object(req, target, "manage")
    new_owner = (req.body or {}).get("userId")
    if new_owner is None or store.user(int(new_owner)) is None:
        raise ApiError(400, "user_id must name an existing user", "bad_request")
    store.transfer(obj["id"], int(new_owner))
    store.share(obj["id"], "user", req.user["id"], "manage")
    return Reply(body=shape(req, {"dependencies": []}))


def handle(req: Request) -> Reply:
    """Answer an operation by its pattern.

    Parameters
    ----------
    req : Request

    Returns
    -------
    Reply
    """
    op = req.operation
    pattern, target, start = classify(op)
    rest = op.segments[start:]
    verb = op.verb
    if pattern == "collection":
        if verb == "get":
            if op.response_is_array or op.paginated or op.path in ARRAY_RESPONSE_PATHS:
                return _list(req, target)
            return Reply(body=shape(req, {}))
        if verb == "post":
            return _create(req, target)
        return Reply(status=204 if op.status == 204 else None, body=None)
    if pattern == "item":
        return _item(req, target)
    if pattern == "archive":
        obj = _object(req, target, "write")
        status = bool((req.body or {}).get("status", True))
        return Reply(
            body=shape(req, req.platform.store.set_archived(None, obj["id"], req.user, status))
        )
    if pattern == "shares":
        return _shares(req, target, rest)
    if pattern == "projects":
        return _projects(req, target, rest)
    if pattern == "transfer":
        return _transfer(req, target)
    if pattern == "clone":
        obj = _object(req, target)
        fields = {k: v for k, v in obj.items() if k not in ("id", "author")}
        clone = req.platform.store.create(kind_of_path(target[:-1]), fields, req.user)
        return Reply(body=shape(req, clone))
    if pattern == "dependencies":
        _object(req, target)
        return Reply(body=[])
    if pattern == "runs":
        return _runs(req, target, rest)
    raise ApiError(501, f"{verb.upper()} /{op.path} has no local behaviour")  # pragma: no cover


def _runs(req: Request, target: list[str], rest: list[str]) -> Reply:
    """Runs of kinds that the local platform cannot execute: recorded as failed."""
    runner = req.platform.runner
    obj = _object(req, target, "read" if req.operation.verb == "get" else "write")
    kind = kind_of_path(target[:-1])
    verb = req.operation.verb
    if len(rest) == 1:
        if verb == "post":

            def cannot_run(_ctx: Any) -> None:
                raise RuntimeError(f"the local platform does not execute {kind} runs")

            run = runner.start(obj["id"], kind, cannot_run, user_id=req.user["id"])
            return Reply(body=shape(req, run))
        return paginate(req, shape(req, runner.runs(obj["id"])), default_limit=20, max_limit=100)
    run_id = int(req.path_params.get(rest[1][1:-1]))
    run = runner.get(run_id)
    if run is None or run.get("jobId", obj["id"]) != obj["id"]:
        raise ApiError(404, "The requested resource could not be found.", "not_found")
    if len(rest) == 2:
        if verb == "delete":
            runner.cancel(run_id)
            return Reply(status=202 if req.operation.status == 202 else 204)
        return Reply(body=shape(req, runner.get(run_id)))
    if rest[2] == "logs":
        lines, _max_id = runner.logs(run_id, req.query.get("last_id"), req.query.get("limit"))
        return Reply(body=shape(req, lines))
    if rest[2] == "outputs":
        return Reply(body=shape(req, runner.outputs(run_id)))
    return Reply(body=shape(req, run))
