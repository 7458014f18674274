"""Schema-driven behaviour for every operation without a hand-written one.

Operations are recognised by the shape of their path: collections (list and
create), items (get, replace, update, delete), and the sub-resources every
Civis object has (archive, shares, projects, transfer, clone, dependencies,
runs). Objects live in the store under a kind made of the path's literal
segments (``workflows/{id}/executions`` -> ``workflows/executions``, with the
parent's id recorded), and every answer is shaped onto the operation's
response schema: all keys present, unknown ones null, never invented data.

A route only ever reaches objects of its own kind (``/workflows/{id}`` never
reaches a user or a file: anything else is 404; ``/jobs/{id}`` reaches every
kind of job), and anything nested under an object (``/jobs/{id}/parents``,
``/workflows/{id}/executions/{execution_id}``) is 404 unless the user can see
that object. Lists are filtered, ordered and paged in SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..api.naming import ARRAY_RESPONSE_PATHS, camel_to_snake, snake_to_camel
from ..api.spec import Operation
from .behaviours._common import JOB_KINDS, page_reply, page_request, paginate, shape
from .contract import ApiError, Reply, Request
from .store import Query

__all__ = ["classify", "handle", "kind_of_path", "kinds_of_path"]

_NOT_FOUND = "The requested resource could not be found."

PAGING = frozenset({"limit", "page_num", "order", "order_dir", "iterator"})
SUBRESOURCES = frozenset(
    {"archive", "shares", "projects", "transfer", "clone", "dependencies", "runs"}
)


def kind_of_path(segments: list[str]) -> str:
    """The store kind for a collection path: its literal segments joined."""
    return "/".join(s for s in segments if not s.startswith("{"))


def kinds_of_path(segments: list[str]) -> tuple[str, ...]:
    """The store kinds an item of a collection path may be.

    ``jobs`` covers every kind of job and ``scripts`` every kind of script;
    any other collection holds exactly its own kind.
    """
    kind = kind_of_path(segments)
    if kind == "jobs":
        return tuple(sorted(JOB_KINDS))
    if kind == "scripts":
        return ("scripts", *sorted(k for k in JOB_KINDS if k.startswith("scripts/")))
    return (kind,)


def classify(op: Operation) -> tuple[str, list[str], int]:
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


def _root(target: list[str]) -> list[str] | None:
    """The path of the outermost object a nested path lives under (``None`` at top level)."""
    for i, seg in enumerate(target):
        if seg.startswith("{"):
            return target[: i + 1] if i + 1 < len(target) else None
    return None


def _check_root(req: Request, target: list[str], level: str = "read") -> None:
    """404 unless the user can see the object everything under ``target`` is nested in."""
    root = _root(target)
    if root is not None:
        _object(req, root, level)


def _object(req: Request, target: list[str], level: str = "read") -> dict[str, Any]:
    """The object an item path points at: of the path's kind, under its parent."""
    *collection, last = target
    obj_id = req.path_params.get(last[1:-1])
    if not isinstance(obj_id, int):
        raise ApiError(404, _NOT_FOUND, "not_found")
    _check_root(req, target)
    obj = req.store.objects.get(kinds_of_path(collection), obj_id, req.user, level)
    parent = _parent(collection, req.path_params)
    if parent and obj.get("_parent") != parent:
        raise ApiError(404, _NOT_FOUND, "not_found")
    return obj


def _list_query(req: Request, target: list[str]) -> Query:
    """The store query of a list request: kind, parent, archived and field filters."""
    archived_q = req.query.get("archived")
    archived: bool | None = False
    if archived_q in ("true", True):
        archived = True
    elif archived_q == "all":
        archived = None
    authors: set[int] | None = None
    equals: dict[str, Any] = {}
    for name, value in req.query.items():
        if name in PAGING or name == "archived" or value is None:
            continue
        if name in ("author", "authors"):
            values = value if isinstance(value, list) else str(value).split(",")
            ids = {int(v) for v in map(str, values) if v.strip().isdigit()}
            authors = ids if authors is None else authors & ids
            continue
        if name == "from_template_id" and isinstance(value, str):  # Civis: "1, 2" is any of them
            value = [v.strip() for v in value.split(",") if v.strip()]
        equals[snake_to_camel(name)] = value
    parent = _parent(target, req.path_params)
    return Query(
        (kind_of_path(target),),
        archived=archived,
        parent=parent or None,
        authors=authors,
        equals=equals,
    )


def _list(req: Request, target: list[str]) -> Reply:
    _check_root(req, target)
    query = _list_query(req, target)
    store = req.store
    params = {p.get("name"): p for p in req.operation.raw.get("parameters") or ()}
    if "limit" not in params:
        return Reply(body=shape(req, store.objects.page(query, req.user)[1]))
    limit = params["limit"]
    order = params.get("order") or {}
    page = page_request(
        req,
        default_limit=int(limit.get("default") or 50),
        max_limit=limit.get("maximum"),
        order_names=(order.get("enum") or ["id"]) if "order" in params else None,
        default_order=order.get("default") if "order" in params else None,
        default_dir=str((params.get("order_dir") or {}).get("default") or "asc"),
    )
    ordering = ((snake_to_camel(page.order), page.descending),) if page.order else ()
    paged = replace(query, order=ordering, limit=page.limit, offset=page.offset)
    total, items = store.objects.page(paged, req.user)
    return page_reply(page, shape(req, items), total)


def _body_fields(req: Request) -> dict[str, Any]:
    """The request body's fields, less the platform's own bookkeeping."""
    body = req.body if isinstance(req.body, Mapping) else {}
    return {k: v for k, v in body.items() if k != "_parent"}


def _create(req: Request, target: list[str]) -> Reply:
    fields = _body_fields(req)
    parent = _parent(target, req.path_params)
    if parent:
        _check_root(req, target, "write")
        fields["_parent"] = parent
    obj = req.store.objects.create(kind_of_path(target), fields, req.user)
    return Reply(body=shape(req, obj))


def _empty_or_shaped(req: Request, obj: Any) -> Reply:
    if req.operation.status == 204 or req.operation.response_schema is None:
        return Reply(status=204 if req.operation.status == 204 else None)
    return Reply(body=shape(req, obj))


def _item(req: Request, target: list[str]) -> Reply:
    store = req.store
    verb = req.operation.verb
    if verb == "get":
        return Reply(body=shape(req, _object(req, target)))
    obj = _object(req, target, "manage" if verb == "delete" else "write")
    kinds = kinds_of_path(target[:-1])
    if verb == "delete":
        store.objects.delete(kinds, obj["id"], req.user)
        return _empty_or_shaped(req, obj)
    fields = _body_fields(req)
    if "_parent" in obj:
        fields["_parent"] = obj["_parent"]
    if verb == "put":
        updated = store.objects.replace(kinds, obj["id"], fields, req.user)
    else:
        updated = store.objects.update(kinds, obj["id"], fields, req.user)
    return _empty_or_shaped(req, updated)


def _share_summary(req: Request, obj: Mapping[str, Any]) -> dict[str, Any]:
    store = req.store
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
    for share in store.permissions.shares(obj["id"]):
        bucket = levels[names[share["level"]]]
        if share["principal_kind"] == "user":
            user = store.identity.user(share["principal_id"]) or {}
            bucket["users"].append({"id": share["principal_id"], "name": user.get("name")})
            users += 1
        else:
            group = store.objects.raw(share["principal_id"]) or {}
            bucket["groups"].append({"id": share["principal_id"], "name": group.get("name")})
            groups += 1
    return {**levels, "totalUserShares": users, "totalGroupShares": groups}


def _shares(req: Request, target: list[str], rest: list[str]) -> Reply:
    store = req.store
    verb = req.operation.verb
    obj = _object(req, target, "read" if verb == "get" else "manage")
    if verb == "get":
        return Reply(body=shape(req, [_share_summary(req, obj)]))
    principal = rest[1] if len(rest) > 1 else None  # "users" or "groups"
    kind = "user" if principal == "users" else "group"
    if verb == "delete":
        pid_name = rest[2][1:-1] if len(rest) > 2 else ""
        pid = req.path_params.get(pid_name)
        if not isinstance(pid, int):
            raise ApiError(404, _NOT_FOUND, "not_found")
        store.permissions.unshare(obj["id"], kind, pid)
        return Reply(status=204)
    body = req.body if isinstance(req.body, Mapping) else {}
    field = "userIds" if kind == "user" else "groupIds"
    ids = _principal_ids(req, kind, field, body.get(field))
    level = body.get("permissionLevel") or "read"
    for pid in ids:
        store.permissions.share(obj["id"], kind, pid, level)
    return Reply(body=shape(req, _share_summary(req, obj)))


def _principal_ids(req: Request, kind: str, field: str, values: Any) -> list[int]:
    """The user or group ids of a share request: 400 unless ids, 404 unless they exist."""
    if values is None:
        return []
    if not isinstance(values, list):
        raise ApiError(400, f"{camel_to_snake(field)} must be a list of ids", "bad_request")
    store = req.store
    ids = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ApiError(
                400, f"{camel_to_snake(field)} must hold ids, not {value!r}", "bad_request"
            )
        exists = (
            store.identity.user(value)
            if kind == "user"
            else store.objects.kind_of(value) == "groups"
        )
        if not exists:
            raise ApiError(404, f"{kind} {value} not found", "not_found")
        ids.append(value)
    return ids


def _projects(req: Request, target: list[str], rest: list[str]) -> Reply:
    store = req.store
    verb = req.operation.verb
    obj = _object(req, target, "read" if verb == "get" else "write")
    if verb == "get":
        projects = [store.objects.raw(pid) for pid in store.projects.of(obj["id"])]
        visible = [p for p in projects if p and store.permissions.level(p, req.user)]
        return Reply(body=shape(req, visible))
    project_id = req.path_params.get(rest[1][1:-1])
    if not isinstance(project_id, int):
        raise ApiError(404, _NOT_FOUND, "not_found")
    store.objects.get("projects", project_id, req.user, "write")
    if verb == "put":
        store.projects.add(project_id, obj["id"])
    else:
        store.projects.remove(project_id, obj["id"])
    return Reply(status=204 if req.operation.status == 204 else None)


def _transfer(req: Request, target: list[str]) -> Reply:
    store = req.store
    obj = _object(req, target, "manage")
    body = req.body if isinstance(req.body, Mapping) else {}
    new_owner = body.get("userId")
    if (
        not isinstance(new_owner, int)
        or isinstance(new_owner, bool)
        or not store.identity.user(new_owner)
    ):
        raise ApiError(400, "user_id must name an existing user", "bad_request")
    store.objects.transfer(obj["id"], new_owner)
    store.permissions.share(obj["id"], "user", req.user["id"], "manage")
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
        _check_root(req, target, "write")
        return Reply(status=204 if op.status == 204 else None, body=None)
    if pattern == "item":
        return _item(req, target)
    if pattern == "archive":
        obj = _object(req, target, "write")
        body = req.body if isinstance(req.body, Mapping) else {}
        status = bool(body.get("status", True))
        kinds = kinds_of_path(target[:-1])
        return Reply(
            body=shape(req, req.store.objects.set_archived(kinds, obj["id"], req.user, status))
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
        clone = req.store.objects.create(kind_of_path(target[:-1]), fields, req.user)
        return Reply(body=shape(req, clone))
    if pattern == "dependencies":
        _object(req, target)
        return Reply(body=[])
    if pattern == "runs":
        return _runs(req, target, rest)
    raise ApiError(501, f"{verb.upper()} /{op.path} has no local behaviour")  # pragma: no cover


def _runs(req: Request, target: list[str], rest: list[str]) -> Reply:
    """Runs of kinds that the local platform cannot execute: recorded as failed."""
    runner = req.runner
    obj = _object(req, target, "read" if req.operation.verb == "get" else "write")
    kind = kind_of_path(target[:-1])
    verb = req.operation.verb
    if len(rest) == 1:
        if verb == "post":

            def cannot_run(_ctx: Any) -> None:
                raise RuntimeError(f"the local platform does not execute {kind} runs")

            started = runner.start(obj["id"], kind, cannot_run, user_id=req.user["id"])
            return Reply(body=shape(req, started))
        return paginate(req, shape(req, runner.runs(obj["id"])), default_limit=20, max_limit=100)
    raw_id = req.path_params.get(rest[1][1:-1])
    run_id = raw_id if isinstance(raw_id, int) and 0 < raw_id < 2**63 else None
    run = runner.get(run_id) if run_id is not None else None
    if run_id is None or run is None or run.get("jobId", obj["id"]) != obj["id"]:
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
