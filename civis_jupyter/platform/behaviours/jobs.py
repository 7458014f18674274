"""Runs of every kind of job, and ``/jobs`` over all of them.

One set of handlers serves the run routes of each runnable kind
(``/scripts/containers/{id}/runs``, ``/scripts/sql/{id}/runs``,
``/imports/files/csv/{id}/runs``, ``/queries/{id}/runs``, ...) and of
``/jobs/{id}/runs``; they all go through the platform's :class:`Runner`:

- ``POST .../runs`` starts a run (409 ``already_running`` while one is live);
- ``GET .../runs`` lists runs, newest first; ``GET .../runs/{run_id}`` gives one;
- ``DELETE .../runs/{run_id}`` (or ``POST /scripts/{id}/cancel``, for the
  latest run) cancels a queued or running run: 202, empty; a run that has
  already finished answers 404 (the official client's ``cancel()`` reads a
  404 as "already done");
- ``GET .../logs`` pages log lines by ``last_id`` with the ``Civis-Max-Id``
  header and ``Civis-Cache-Control: no-store`` while the run is live;
- ``GET/POST .../outputs`` list and add run outputs.

``/jobs`` lists and resolves every job id whatever its kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..contract import ApiError, Reply, Request, handles
from ..runner import AlreadyRunning
from ..store import Query
from ._common import (
    JOB_KINDS,
    JobKind,
    PageRequest,
    base_url,
    body_get,
    int_param,
    is_live,
    page_reply,
    page_request,
    paginate,
    register_job_kind,
    run_summary,
    shape,
)

__all__ = ["cancel_live_run", "job_record", "run_record"]

#: Kinds whose run routes these handlers serve (with ``jobs`` itself). Handlers
#: are registered for every run route shape; the router only ever calls those
#: that the API has for the kind.
_RUN_KINDS = (
    "jobs",
    "scripts/containers",
    "scripts/python3",
    "scripts/custom",
    "scripts/sql",
    "imports/files/csv",
    "exports/files/csv",
    "queries",
)
_RUN_SUFFIXES = (
    ("post", ""),
    ("get", ""),
    ("get", "/{run_id}"),
    ("delete", "/{run_id}"),
    ("get", "/{run_id}/logs"),
    ("post", "/{run_id}/logs"),
    ("get", "/{run_id}/outputs"),
    ("post", "/{run_id}/outputs"),
)


#: Kinds with runs that the local platform records but does not execute.
_NOT_EXECUTED = {
    "enhancements/cass-ncoa": "JobTypes::CassNcoa",
    "enhancements/civis-data-match": "JobTypes::CivisDataMatch",
    "enhancements/geocode": "JobTypes::Geocode",
    "enhancements/identity-resolution": "JobTypes::IdentityResolution",
    "imports": "JobTypes::Import",
    "imports/files": "JobTypes::UrlImport",
    "media/optimizations": "JobTypes::MediaOptimization",
    "scripts/dbt": "JobTypes::Dbt",
    "scripts/javascript": "JobTypes::JavaScript",
    "scripts/r": "JobTypes::RDocker",
}


def _not_executed(kind: str) -> Callable[[Request, dict[str, Any]], Any]:
    def executor(_req: Request, _job: dict[str, Any]) -> Callable[[Any], None]:
        def run(_ctx: Any) -> None:
            raise RuntimeError(f"the local platform does not execute {kind} runs")

        return run

    return executor


for _kind_name, _job_type in _NOT_EXECUTED.items():
    register_job_kind(JobKind(_kind_name, _job_type, None, _not_executed(_kind_name)))


# -- lookups -----------------------------------------------------------------------------


def _job(req: Request, route_kind: str, level: str = "read") -> tuple[JobKind, dict]:
    job_id = req.path_params["id"]
    if route_kind == "jobs":
        kind, obj = req.store.objects.find_job(job_id, list(JOB_KINDS), req.user, level)
        return JOB_KINDS[kind], obj
    if route_kind not in JOB_KINDS:
        raise ApiError(404, f"{route_kind} jobs cannot run here")
    if route_kind == "scripts/containers":  # custom scripts backed by a container too
        kind, obj = req.store.objects.find_job(
            job_id, [route_kind, "scripts/custom"], req.user, level
        )
        if kind != route_kind and obj.get("backingScriptType") != "container":
            raise ApiError(404, f"script {job_id} is not a container script", "not_found")
        return JOB_KINDS[kind], obj
    return JOB_KINDS[route_kind], req.store.objects.get(route_kind, job_id, req.user, level=level)


def _run(req: Request, job: dict[str, Any]) -> dict[str, Any]:
    run_id = int_param(req.path_params.get("run_id"), "run_id")
    run = req.platform.runner.get(run_id) if run_id is not None else None
    if run is None or run["jobId"] != job["id"]:
        raise ApiError(404, f"run {run_id} of job {job['id']} not found", "not_found")
    return run


def run_record(req: Request, kind: JobKind | None, run: dict[str, Any]) -> dict[str, Any]:
    """A run as a kind's run routes show it (``/jobs`` shapes it shorter)."""
    out = dict(run)
    if kind is not None and kind.parent_key:
        out[kind.parent_key] = run["jobId"]
    if kind is not None and kind.run_extra is not None:
        out = kind.run_extra(req, out)
    out.setdefault("maxMemoryUsage", None)
    out.setdefault("maxCpuUsage", None)
    return out


_UNKNOWN: Any = object()


def job_record(
    req: Request,
    kind: JobKind,
    obj: dict[str, Any],
    runs: bool = False,
    last: dict[str, Any] | None = _UNKNOWN,
    level: str | None = _UNKNOWN,
) -> dict:
    """A job as ``/jobs`` shows it.

    ``last`` (its newest run) and ``level`` (the user's permission on it)
    save a lookup each when already known.
    """
    runner = req.platform.runner
    if last is _UNKNOWN:
        last = runner.last_run(obj["id"])
    if level is _UNKNOWN:
        level = req.store.permissions.level(obj, req.user)
    author = obj.get("author") if "author" in obj else req.store.objects.author(obj)
    out = {
        "id": obj["id"],
        "name": obj.get("name") or f"{kind.job_type.split('::')[-1]} #{obj['id']}",
        "type": kind.job_type,
        "fromTemplateId": obj.get("fromTemplateId"),
        "state": last["state"] if last else "idle",
        "createdAt": obj.get("createdAt"),
        "updatedAt": obj.get("updatedAt"),
        "lastRunUpdatedAt": last and (last["finishedAt"] or last["startedAt"] or last["createdAt"]),
        "lastRun": run_summary(last),
        "hidden": bool(obj.get("hidden")),
        "archived": bool(obj.get("archived")),
        "author": author,
        "myPermissionLevel": level,
        "schedule": obj.get("schedule")
        or {
            "scheduled": False,
            "scheduledDays": [],
            "scheduledHours": [],
            "scheduledMinutes": [],
            "scheduledRunsPerHour": None,
            "scheduledDaysOfMonth": [],
        },
        "runningAsUser": (author or {}).get("username"),
        "runByUser": req.user.get("username"),
    }
    if runs:
        out["runs"] = [run_summary(r) for r in runner.runs(obj["id"])[:10]]
    return out


# -- run handlers ---------------------------------------------------------------------------


def _make_start(route_kind: str) -> Callable[[Request], Reply]:
    def start_run(req: Request) -> Reply:
        kind, job = _job(req, route_kind, level="write")
        try:
            executor = kind.executor(req, job)
            run = req.platform.runner.start(job["id"], kind.kind, executor, user_id=req.user["id"])
        except AlreadyRunning as exc:
            raise ApiError(
                409,
                f"job {exc.job_id} is already running (run {exc.run_id}); "
                "cancel it or wait for it to finish",
                "already_running",
            ) from None
        location = f"{base_url(req).rstrip('/')}/{route_kind}/{job['id']}/runs/{run['id']}"
        body = shape(req, run_record(req, kind, run))
        return Reply(body, headers={"Location": location})

    return start_run


def _make_list(route_kind: str) -> Callable[[Request], Reply]:
    def list_runs(req: Request) -> Reply:
        kind, job = _job(req, route_kind)
        runs = [run_record(req, kind, r) for r in req.platform.runner.runs(job["id"])]
        return paginate(
            req,
            shape(req, runs),
            default_limit=20,
            max_limit=100,
            order_keys={"id": lambda r: r["id"]},
            default_order="id",
            default_dir="desc",
        )

    return list_runs


def _make_get(route_kind: str) -> Callable[[Request], Reply]:
    def get_run(req: Request) -> Reply:
        kind, job = _job(req, route_kind)
        return Reply(shape(req, run_record(req, kind, _run(req, job))))

    return get_run


def _finished(job: dict[str, Any], run: dict[str, Any]) -> ApiError:
    return ApiError(
        404,
        f"run {run['id']} of job {job['id']} has already finished ({run['state']}): "
        "nothing to cancel",
        "not_found",
    )


def cancel_live_run(req: Request, job: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """Cancel a queued or running run of ``job``.

    Parameters
    ----------
    req : Request
        The request (its platform's runner cancels).
    job : dict
        The job the run belongs to.
    run : dict
        The run, as the runner gave it.

    Returns
    -------
    dict
        The run after cancelling (still ``running`` with ``isCancelRequested``
        while its process stops).

    Raises
    ------
    ApiError
        404 when the run had already finished, also when it finished while
        the cancel was asked for: the official client's ``cancel()`` reads a
        404 as "the run is done".
    """
    if not is_live(run):
        raise _finished(job, run)
    after = req.platform.runner.cancel(run["id"])
    if not is_live(after) and not after.get("isCancelRequested"):
        raise _finished(job, after)
    return after


def _make_cancel(route_kind: str) -> Callable[[Request], Reply]:
    def cancel_run(req: Request) -> Reply:
        _kind, job = _job(req, route_kind, level="write")
        cancel_live_run(req, job, _run(req, job))
        return Reply(None, status=202)

    return cancel_run


def _make_logs(route_kind: str) -> Callable[[Request], Reply]:
    def list_logs(req: Request) -> Reply:
        _kind, job = _job(req, route_kind)
        run = _run(req, job)
        last_id = int_param(req.query.get("last_id"), "last_id")
        limit = int_param(req.query.get("limit"), "limit", 10000)
        if limit is not None and limit < 0:
            raise ApiError(400, "limit must not be negative")
        lines, max_id = req.platform.runner.logs(run["id"], last_id, limit)
        headers = {
            "Civis-Cache-Control": "no-store"
            if is_live(run) or req.platform.runner.is_live(run["id"])
            else "max-age=300"
        }
        if max_id is not None:
            headers["Civis-Max-Id"] = str(max_id)
        return Reply(shape(req, lines), headers=headers)

    return list_logs


def _make_post_logs(route_kind: str) -> Callable[[Request], Reply]:
    def post_logs(req: Request) -> Reply:
        _kind, job = _job(req, route_kind, level="write")
        run = _run(req, job)
        entries = []
        message = body_get(req, "message")
        if message is not None:
            entries.append((str(message), str(body_get(req, "level", "info"))))
        for m in body_get(req, "messages", []) or []:
            if not isinstance(m, dict) or m.get("message") is None:
                raise ApiError(400, "each of messages needs a message")
            entries.append((str(m["message"]), str(m.get("level") or "info")))
        if not entries:
            raise ApiError(400, "give a message or messages")
        req.platform.runner.append_logs(run["id"], entries)
        return Reply(None, status=204)

    return post_logs


def _describe(req: Request, object_type: str, object_id: int) -> dict[str, Any]:
    """Name, link and value of a run output's object (404 if absent)."""
    root = base_url(req).rstrip("/")
    kinds = {
        "File": ("files", "files"),
        "Table": ("tables", "tables"),
        "JSONValue": ("json_values", "json_values"),
        "Project": ("projects", "projects"),
        "Report": ("reports", "reports"),
    }
    if object_type in kinds:
        kind, path = kinds[object_type]
        obj = req.store.objects.get(kind, object_id, req.user)
        name = obj.get("name")
        if object_type == "Table":
            name = f"{obj.get('schema')}.{obj.get('name')}"
        return {
            "name": name,
            "link": f"{root}/{path}/{object_id}",
            "value": obj.get("value") if object_type == "JSONValue" else None,
        }
    if object_type in ("Script", "Job", "Query", "Import"):
        _kind, obj = req.store.objects.find_job(object_id, list(JOB_KINDS), req.user)
        return {"name": obj.get("name"), "link": f"{root}/jobs/{object_id}", "value": None}
    raise ApiError(
        400,
        "objectType must be one of File, Table, JSONValue, Project, Report, Script, "
        f"Job, Query or Import, not {object_type!r}",
    )


def _output_view(o: dict[str, Any]) -> dict[str, Any]:
    return {k: o.get(k) for k in ("objectType", "objectId", "name", "link", "value")}


def _make_outputs(route_kind: str) -> Callable[[Request], Reply]:
    def list_outputs(req: Request) -> Reply:
        _kind, job = _job(req, route_kind)
        run = _run(req, job)
        root = base_url(req).rstrip("/")
        outs = []
        for o in req.platform.runner.outputs(run["id"]):
            view = _output_view(o)
            if view["link"] is None and view["objectType"] == "File":
                view["link"] = f"{root}/files/{view['objectId']}"
            outs.append(view)
        return paginate(
            req,
            shape(req, outs),
            default_limit=50,
            max_limit=50,
            order_keys={"created_at": lambda o: 0, "id": lambda o: o["objectId"]},
        )

    return list_outputs


def _make_post_output(route_kind: str) -> Callable[[Request], Reply]:
    def post_output(req: Request) -> Reply:
        _kind, job = _job(req, route_kind, level="write")
        run = _run(req, job)
        object_type = body_get(req, "objectType")
        object_id = int_param(body_get(req, "objectId"), "objectId")
        if not object_type or object_id is None:
            raise ApiError(400, "objectType and objectId are required")
        info = _describe(req, str(object_type), object_id)
        out = req.platform.runner.add_output(run["id"], str(object_type), object_id, **info)
        return Reply(shape(req, _output_view(out)), status=202)

    return post_output


_FACTORIES = {
    ("post", ""): _make_start,
    ("get", ""): _make_list,
    ("get", "/{run_id}"): _make_get,
    ("delete", "/{run_id}"): _make_cancel,
    ("get", "/{run_id}/logs"): _make_logs,
    ("post", "/{run_id}/logs"): _make_post_logs,
    ("get", "/{run_id}/outputs"): _make_outputs,
    ("post", "/{run_id}/outputs"): _make_post_output,
}

for _kind_name in (*_RUN_KINDS, *_NOT_EXECUTED):
    for _verb, _suffix in _RUN_SUFFIXES:
        handles(_verb, f"{_kind_name}/{{id}}/runs{_suffix}")(
            _FACTORIES[(_verb, _suffix)](_kind_name)
        )


# -- scripts/{id} actions ---------------------------------------------------------------------

_SCRIPT_KINDS = ("scripts/containers", "scripts/python3", "scripts/custom", "scripts/sql")


@handles("post", "scripts/{id}/cancel")
def cancel_script(req: Request) -> Reply:
    _kind, job = req.store.objects.find_job(
        req.path_params["id"], list(_SCRIPT_KINDS), req.user, "write"
    )
    run = req.platform.runner.last_run(job["id"])
    if run is None:
        raise ApiError(404, f"script {job['id']} has never run", "not_found")
    run = cancel_live_run(req, job, run)
    return Reply(
        shape(
            req,
            {"id": run["id"], "state": run["state"], "isCancelRequested": run["isCancelRequested"]},
        ),
        status=202,
    )


@handles("post", "scripts/{id}/run")
def run_script(req: Request) -> Reply:
    kind_name, _job_obj = req.store.objects.find_job(
        req.path_params["id"], list(_SCRIPT_KINDS), req.user, "write"
    )
    _make_start(kind_name)(req)
    return Reply(None, status=204)


# -- /jobs ---------------------------------------------------------------------------------------


def _csv(value: Any) -> set[str]:
    if value is None:
        return set()
    items = value if isinstance(value, list) else str(value).split(",")
    return {str(v).strip() for v in items if str(v).strip()}


#: ``/jobs`` order name -> store field, for orders kept in SQL.
_SQL_ORDERS = {"updated_at": "updatedAt"}
#: The fields of a job that :func:`job_record` reads.
_RECORD_FIELDS = ("name", "fromTemplateId", "hidden", "schedule")


def _jobs_query(req: Request) -> Query:
    """The store query of a ``/jobs`` request: every filter but ``state``."""
    q = req.query
    types = _csv(q.get("type"))
    kinds = [k for k, v in JOB_KINDS.items() if not types or v.job_type in types]
    authors = {int(a) for a in _csv(q.get("author")) if a.isascii() and a.isdigit()}
    text = str(q.get("q") or "").lower() or None
    archived_q = str(q.get("archived") or "false").lower()
    archived = None if archived_q == "all" else archived_q == "true"
    hidden = str(q.get("hidden", "false")).lower() == "true"
    return Query(
        tuple(kinds),
        archived=archived,
        authors=authors if _csv(q.get("author")) else None,
        falsy=() if hidden else ("hidden",),
        text=text,
        text_kinds=tuple(k for k in kinds if text and text in JOB_KINDS[k].job_type.lower()),
    )


@handles("get", "jobs")
def list_jobs(req: Request) -> Reply:
    """Every kind of job the user can see, paged in SQL.

    Ordered by ``updated_at`` (the default) and without a ``state`` filter,
    a page costs O(limit); ordering by ``last_run_updated_at`` or filtering
    by ``state`` needs every matching job's newest run, read in one query.
    """
    page = page_request(
        req,
        default_limit=50,
        max_limit=50,
        order_names=("updated_at", "last_run_updated_at"),
        default_order="updated_at",
        default_dir="desc",
    )
    query = _jobs_query(req)
    states = _csv(req.query.get("state"))
    platform = req.platform
    if page.order in _SQL_ORDERS and not states:
        field = _SQL_ORDERS[page.order]
        paged = replace(
            query,
            order=((field, page.descending), ("id", page.descending)),
            fields=_RECORD_FIELDS,
            limit=page.limit,
            offset=page.offset,
        )
        total, objs = platform.store.objects.page(paged, req.user)
        lasts = platform.runner.last_runs([o["id"] for o in objs])
    else:
        total, objs, lasts = _jobs_by_runs(req, query, states, page)
    ids = [o["id"] for o in objs]
    kinds = platform.store.objects.kinds_of(ids)
    levels = platform.store.permissions.levels(ids, req.user)
    rows = [
        job_record(
            req, JOB_KINDS[kinds[o["id"]]], o, last=lasts.get(o["id"]), level=levels.get(o["id"])
        )
        for o in objs
    ]
    return page_reply(page, shape(req, rows), total)


def _jobs_by_runs(
    req: Request, query: Query, states: set[str], page: PageRequest
) -> tuple[int, list[dict[str, Any]], dict[int, dict[str, Any]]]:
    """A page of jobs filtered by their last run's state or ordered by its time."""
    platform = req.platform
    ids = platform.store.objects.select_ids(
        replace(query, order=(("updatedAt", True), ("id", True))), req.user
    )
    lasts = platform.runner.last_runs(ids)
    if states:
        ids = [i for i in ids if (lasts[i]["state"] if i in lasts else "idle") in states]
    if page.order == "last_run_updated_at":
        ids = _by_last_run_time(ids, lasts, page.descending)
    elif not page.descending:
        ids.reverse()
    chosen = ids[page.offset : page.offset + page.limit]
    return len(ids), platform.store.objects.objects_by_id(chosen), lasts


def _by_last_run_time(
    ids: list[int], lasts: dict[int, dict[str, Any]], descending: bool
) -> list[int]:
    def when(job_id: int) -> tuple[str, int]:
        last = lasts.get(job_id)
        stamp = last and (last["finishedAt"] or last["startedAt"] or last["createdAt"])
        return (stamp or "", job_id)

    return sorted(ids, key=when, reverse=descending)


@handles("get", "jobs/{id}")
def get_job(req: Request) -> Reply:
    kind, obj = _job(req, "jobs")
    return Reply(shape(req, job_record(req, kind, obj, runs=True)))
