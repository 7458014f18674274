"""Workflow executions: a workflow's tasks run as platform runs, in order.

``POST /workflows/{id}/executions`` starts an execution of the workflow's
definition (Mistral workflow language v2, YAML). Its tasks run as platform
runs through the same routes users call, so permissions, validation and the
run state machine are the usual ones:

- ``civis.run_job``: a run of an existing job (``input.job_id``);
- ``civis.scripts.container``, ``civis.scripts.python3``,
  ``civis.scripts.sql``: a new script from ``input`` (named after the task
  unless ``input.name`` says otherwise), then a run of it;
- any other action fails its task with an "unsupported action" message.

Order: a task starts once triggered and once every task it ``requires`` has
succeeded (required tasks are triggered with it, unless a transition leads to
them: then they wait for it). Tasks that nothing
transitions to are triggered when the execution starts (for ``type: reverse``,
``target_task``'s requirements, or every task). When a task ends,
``on-success`` (or ``on-error``) and then ``on-complete`` trigger the next
ones; the engine commands ``succeed`` and ``fail`` end the execution. A task
error that no ``on-error``/``on-complete`` handles fails the execution (the
tasks still running finish; no new ones start). Each task runs at most once
per execution. ``join: all`` waits for every task that may still transition
to it. Conditions on transitions and YAQL expressions (``<% ... %>``) are
refused (400), as the embedded platform does not evaluate them.

``GET .../executions`` and ``GET .../executions/{execution_id}`` show the
execution and each task's ``mistralState`` (``IDLE``, ``WAITING``,
``RUNNING``, ``SUCCESS``, ``ERROR``, ``CANCELLED``) with its runs;
``POST .../cancel`` cancels the runs still going and starts nothing more.
Executions are kept in the store; one running when the platform stopped shows
as failed ("platform restarted").
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
import traceback
import weakref
from collections.abc import Iterable
from typing import Any

from ...api.spec import ApiSpec, Operation
from ...api.states import DONE_STATES
from ...workflows import ENGINE_COMMANDS, parse_workflow_yaml, transition_targets
from ..clock import iso_now
from ..contract import ApiError, Reply, Request, Services, handler_for, handles
from ..runner import Runner
from ._common import body_get, paginate, shape

__all__ = ["SUPPORTED_ACTIONS", "WorkflowEngine", "engine_of"]

EXECUTIONS = "workflows/executions"
WORKFLOWS = "workflows"
#: Task action -> (create route of its script, run route) or the run route of any job.
SUPPORTED_ACTIONS = {
    "civis.run_job": (None, "jobs"),
    "civis.scripts.container": ("scripts/containers", "scripts/containers"),
    "civis.scripts.python3": ("scripts/python3", "scripts/python3"),
    "civis.scripts.sql": ("scripts/sql", "scripts/sql"),
}
_RUN_TO_MISTRAL = {"succeeded": "SUCCESS", "failed": "ERROR", "cancelled": "CANCELLED"}
_EXECUTION_STATE = {
    "RUNNING": "running",
    "SUCCESS": "succeeded",
    "ERROR": "failed",
    "CANCELLED": "cancelled",
}


# -- calling the platform's own routes ------------------------------------------------------


#: spec -> its operations by (verb, template), made on first use.
_OPERATIONS: weakref.WeakKeyDictionary[ApiSpec, dict[tuple[str, str], Operation]] = (
    weakref.WeakKeyDictionary()
)
_OPERATIONS_LOCK = threading.Lock()


def _operation(platform: Services, verb: str, template: str) -> Operation:
    spec = platform.spec
    with _OPERATIONS_LOCK:
        table = _OPERATIONS.get(spec)
        if table is None:
            table = {(op.verb, op.path): op for op in spec.iter_operations(True)}
            _OPERATIONS[spec] = table
    return table[(verb, template)]


def _call(
    platform: Services,
    user: dict[str, Any],
    verb: str,
    template: str,
    path_params: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
) -> Any:
    """Answer a route as if ``user`` had called it; returns the reply's body."""
    from ..generic import handle
    from ..validation import camelize, validate_body

    op = _operation(platform, verb, template)
    if body is not None:
        body = camelize(body)
        if op.body_schema is not None:
            validate_body(op.spec, op.body_schema, body)
    req = Request(
        platform=platform, operation=op, user=user, path_params=path_params or {}, body=body
    )
    reply = (handler_for(verb, template) or handle)(req)
    return reply.body


# -- one execution ------------------------------------------------------------------------


class _Execution:
    """The live state of one execution (guarded by the engine's lock)."""

    def __init__(self, record: dict[str, Any], user: dict[str, Any], definition: dict[str, Any]):
        self.id: int = record["id"]
        self.workflow_id: int = record["workflowId"]
        self.user = user
        self.tasks: dict[str, dict[str, Any]] = definition["tasks"]
        self.reverse = definition.get("type") == "reverse"
        self.state = "RUNNING"
        self.info: str | None = None
        self.task_state = {name: "IDLE" for name in self.tasks}
        self.task_info: dict[str, str | None] = dict.fromkeys(self.tasks)
        self.task_runs: dict[str, list[dict[str, int]]] = {name: [] for name in self.tasks}
        self.running: dict[int, str] = {}
        self.failed_unhandled = False
        self.included: set[str] = set(record.get("includedTasks") or self.tasks)
        self.target: str | None = record.get("targetTask")
        #: Tasks some transition leads to (started by it, not at the start).
        self.targeted = {
            t
            for task in self.tasks.values()
            for key in ("on-success", "on-error", "on-complete")
            for t in transition_targets(task.get(key))
        }

    def inbound(self, name: str) -> list[str]:
        """Tasks with a transition to ``name``."""
        return [
            source
            for source, task in self.tasks.items()
            for key in ("on-success", "on-error", "on-complete")
            if name in transition_targets(task.get(key))
        ]

    def start_tasks(self) -> list[str]:
        if self.reverse:
            return [self.target] if self.target else list(self.tasks)
        return [name for name in self.tasks if name not in self.targeted]

    def record(self) -> dict[str, Any]:
        tasks = [
            {
                "name": name,
                "mistralState": self.task_state[name],
                "mistralStateInfo": self.task_info[name],
                "runs": list(self.task_runs[name]),
            }
            for name in self.tasks
        ]
        return {
            "state": _EXECUTION_STATE[self.state],
            "mistralState": self.state,
            "mistralStateInfo": self.info,
            "tasks": tasks,
        }


class WorkflowEngine:
    """Runs a platform's workflow executions.

    One thread moves executions on; the runner tells it of every run's state
    change (a listener), so it never polls.

    Parameters
    ----------
    platform : LocalPlatform
    """

    def __init__(self, platform: Services):
        self.platform = platform
        self._lock = threading.RLock()
        self._executions: dict[int, _Execution] = {}
        self._by_run: dict[int, _Execution] = {}
        self._thread = cf.ThreadPoolExecutor(1, thread_name_prefix="civis-workflows")
        self._runner: Runner | None = None
        self._listen()

    def _listen(self) -> None:
        runner = self.platform.runner
        if runner is not self._runner:  # a new runner after LocalPlatform.reset
            runner.listeners.append(self._on_run_state)
            self._runner = runner

    def known(self, execution_id: int) -> bool:
        """Whether this process runs (or ran) the execution."""
        with self._lock:
            return execution_id in self._executions

    # -- starting ------------------------------------------------------------------------
    def start(
        self, record: dict[str, Any], user: dict[str, Any], definition: dict[str, Any]
    ) -> None:
        """Follow a new execution and start its first tasks (on the engine's thread)."""
        self._listen()
        execution = _Execution(record, user, definition)
        with self._lock:
            self._executions[execution.id] = execution
            for name in execution.start_tasks():
                self._trigger(execution, name)
            self._save(execution)
        self._submit(lambda: self._advance(execution))

    def _submit(self, work: Any) -> None:
        def run() -> None:
            try:
                work()
            except Exception:  # a bug must not stop other executions
                traceback.print_exc()

        self._thread.submit(run)

    def _trigger(self, execution: _Execution, name: str) -> None:
        if name in ENGINE_COMMANDS:
            if name == "fail":
                execution.failed_unhandled = True
                execution.info = execution.info or "the workflow went to 'fail'"
            elif name == "succeed":
                execution.state = "SUCCESS"
            else:
                execution.failed_unhandled = True
                execution.info = "'pause' is not supported on this platform"
            return
        if execution.task_state.get(name) != "IDLE":
            return
        execution.task_state[name] = "WAITING"
        for required in execution.tasks[name].get("requires") or []:
            # A required task that some transition leads to waits for that transition.
            if execution.reverse or required not in execution.targeted:
                self._trigger(execution, required)

    # -- moving on ------------------------------------------------------------------------
    def _ready(self, execution: _Execution, name: str) -> bool | None:
        """True to start, False to wait, None when it can never start."""
        states = execution.task_state
        for required in execution.tasks[name].get("requires") or []:
            if states[required] in ("ERROR", "CANCELLED"):
                return None
            if states[required] != "SUCCESS":
                return False
        if execution.tasks[name].get("join") is not None:
            busy = ("WAITING", "RUNNING")
            if any(states[s] in busy for s in execution.inbound(name)):
                return False
        return True

    def _advance(self, execution: _Execution) -> None:
        """Start every task that may start; end the execution when nothing is left."""
        with self._lock:
            while execution.state == "RUNNING" and not execution.failed_unhandled:
                startable = [
                    n
                    for n, s in execution.task_state.items()
                    if s == "WAITING" and self._ready(execution, n)
                ]
                if not startable:
                    break
                for name in startable:
                    self._start_task(execution, name)
            stuck = [n for n, s in execution.task_state.items() if s == "WAITING"]
            if execution.running:
                self._save(execution)
                return
            for name in stuck:
                if execution.state == "RUNNING" and not execution.failed_unhandled:
                    execution.task_state[name] = "ERROR"
                    execution.task_info[name] = "not run: a task it requires did not succeed"
                    execution.failed_unhandled = True
            self._end(execution)

    def _end(self, execution: _Execution) -> None:
        if execution.state == "RUNNING":
            execution.state = "ERROR" if execution.failed_unhandled else "SUCCESS"
        self._save(execution, finished=True)

    def _start_task(self, execution: _Execution, name: str) -> None:
        task = execution.tasks[name]
        execution.task_state[name] = "RUNNING"
        if name not in execution.included:
            execution.task_state[name] = "SUCCESS"
            execution.task_info[name] = "skipped: not in includedTasks"
            self._follow(execution, name, "SUCCESS")
            return
        try:
            job_id, run_id = self._start_run(execution, name, task)
        except Exception as exc:
            message = exc.description if isinstance(exc, ApiError) else str(exc)
            self._task_done(execution, name, "ERROR", message or type(exc).__name__)
            return
        execution.task_runs[name].append({"id": run_id, "jobId": job_id})
        execution.running[run_id] = name
        self._by_run[run_id] = execution
        run = self.platform.runner.get(run_id)
        if run is not None and run["state"] in DONE_STATES:  # ended before we listened
            self._run_ended(execution, run_id, run["state"], run.get("error"))

    def _start_run(self, execution: _Execution, name: str, task: dict[str, Any]) -> tuple[int, int]:
        action = task.get("action")
        if action not in SUPPORTED_ACTIONS:
            raise RuntimeError(
                f"unsupported action {action!r} on this platform; supported: "
                + ", ".join(sorted(SUPPORTED_ACTIONS))
            )
        create, run_kind = SUPPORTED_ACTIONS[action]
        inputs = dict(task.get("input") or {})
        if create is None:
            if "job_id" not in inputs:
                raise RuntimeError("civis.run_job needs input.job_id")
            job_id = int(inputs["job_id"])
        else:
            inputs.setdefault("name", name)
            job_id = int(_call(self.platform, execution.user, "post", create, body=inputs)["id"])
        run = _call(
            self.platform, execution.user, "post", f"{run_kind}/{{id}}/runs", {"id": job_id}
        )
        return job_id, int(run["id"])

    def _on_run_state(self, run_id: int, state: str) -> None:
        """Runner listener: hand terminal states of tasks' runs to the engine thread."""
        if state not in DONE_STATES:
            return
        with self._lock:
            execution = self._by_run.get(run_id)
        if execution is None:
            return
        run = self._runner.get(run_id) if self._runner is not None else None
        error = run.get("error") if run else None
        self._submit(lambda: self._on_end(execution, run_id, state, error))

    def _on_end(self, execution: _Execution, run_id: int, state: str, error: str | None) -> None:
        with self._lock:
            self._run_ended(execution, run_id, state, error)

    def _run_ended(self, execution: _Execution, run_id: int, state: str, error: Any) -> None:
        name = execution.running.pop(run_id, None)
        self._by_run.pop(run_id, None)
        if name is None:
            return
        self._task_done(execution, name, _RUN_TO_MISTRAL[state], error)

    def _task_done(self, execution: _Execution, name: str, state: str, info: Any) -> None:
        execution.task_state[name] = state
        execution.task_info[name] = None if info is None else str(info)
        if execution.state == "RUNNING":
            self._follow(execution, name, state)
        self._submit(lambda: self._advance(execution))

    def _follow(self, execution: _Execution, name: str, state: str) -> None:
        """Trigger the transitions of a task that ended in ``state``."""
        task = execution.tasks[name]
        keys = ["on-success"] if state == "SUCCESS" else ["on-error"]
        keys.append("on-complete")
        targets = [t for key in keys for t in transition_targets(task.get(key))]
        if state != "SUCCESS" and not targets:
            execution.failed_unhandled = True
            execution.info = execution.info or f"task {name!r} failed"
        if state == "CANCELLED":
            return
        for target in targets:
            self._trigger(execution, target)

    # -- cancelling and saving ------------------------------------------------------------------
    def cancel(self, execution_id: int) -> None:
        """Cancel an execution: its runs still going, and everything not started."""
        with self._lock:
            execution = self._executions.get(execution_id)
            if execution is None or execution.state != "RUNNING":
                return
            execution.state = "CANCELLED"
            execution.info = "cancelled"
            for name, state in execution.task_state.items():
                if state == "WAITING":
                    execution.task_state[name] = "CANCELLED"
            runs = list(execution.running)
            self._save(execution, finished=not runs)
        for run_id in runs:
            try:
                self.platform.runner.cancel(run_id)
            except Exception:  # ended meanwhile
                traceback.print_exc()

    def _save(self, execution: _Execution, finished: bool = False) -> None:
        fields = execution.record()
        if finished:
            fields["finishedAt"] = iso_now()
        self.platform.store.objects.write_raw(execution.id, fields)
        workflow_state = fields["state"] if finished else "running"
        self.platform.store.objects.write_raw(
            execution.workflow_id, {"state": workflow_state, "lastExecutionId": execution.id}
        )

    def shutdown(self) -> None:
        """Stop the engine's thread (runs end with the platform's runner)."""
        self._thread.shutdown(wait=False, cancel_futures=True)


_engines_lock = threading.Lock()
_ENGINE_ATTRIBUTE = "_workflow_engine"


def engine_of(platform: Services) -> WorkflowEngine:
    """The workflow engine of a platform (made on first use).

    The engine is kept on the platform object itself (``_workflow_engine``),
    so it lives and dies with the platform.
    """
    with _engines_lock:
        engine = getattr(platform, _ENGINE_ATTRIBUTE, None)
        if not isinstance(engine, WorkflowEngine):
            engine = WorkflowEngine(platform)
            setattr(platform, _ENGINE_ATTRIBUTE, engine)
        return engine


# -- routes -------------------------------------------------------------------------------


def _workflow(req: Request, level: str = "read") -> dict[str, Any]:
    return req.store.objects.get(WORKFLOWS, req.path_params["id"], req.user, level=level)


def _definition(workflow: dict[str, Any]) -> dict[str, Any]:
    text = workflow.get("definition")
    if not text or not str(text).strip():
        raise ApiError(400, f"workflow {workflow['id']} has no definition to execute")
    try:
        definition = parse_workflow_yaml(str(text))
    except ValueError as exc:
        raise ApiError(400, f"invalid workflow definition: {exc}") from None
    for name, task in definition["tasks"].items():
        for key in ("on-success", "on-error", "on-complete"):
            if _has_condition(task.get(key)):
                raise ApiError(
                    400,
                    f"task {name!r}: conditions on transitions ({key}) are not evaluated "
                    "on this platform; use plain task names",
                )
        if "<%" in str(task.get("input") or ""):
            raise ApiError(
                400, f"task {name!r}: YAQL expressions (<% ... %>) are not evaluated here"
            )
    return definition


def _has_condition(value: Any) -> bool:
    if isinstance(value, dict):
        return _has_condition(value.get("next"))
    return isinstance(value, list) and any(isinstance(item, dict) for item in value)


def _names(value: Any, what: str, known: Iterable[str]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"{what} must be a list of task names")
    unknown = [v for v in value if v not in set(known)]
    if unknown:
        raise ApiError(400, f"{what}: no task named {', '.join(map(repr, unknown))}")
    return value


def _execution(req: Request, workflow: dict[str, Any]) -> dict[str, Any]:
    return _stored_execution(req, req.path_params["execution_id"], workflow["id"])


def _stored_execution(req: Request, execution_id: Any, workflow_id: int) -> dict[str, Any]:
    """An execution of a workflow as stored now (a 404 when there is none)."""
    obj = req.store.objects.raw(execution_id, EXECUTIONS)
    if obj is None or obj.get("workflowId") != workflow_id:
        raise ApiError(404, f"execution {execution_id} of workflow {workflow_id} not found")
    return obj


def _view(req: Request, obj: dict[str, Any]) -> dict[str, Any]:
    """An execution with its tasks' runs as they are now."""
    if obj.get("state") == "running" and not engine_of(req.platform).known(obj["id"]):
        obj = req.store.objects.write_raw(
            obj["id"],
            {"state": "failed", "mistralState": "ERROR", "mistralStateInfo": "platform restarted"},
        )
    runner = req.platform.runner
    level = req.store.permissions.level(obj, req.user)
    tasks = []
    for task in obj.get("tasks") or []:
        runs = []
        for ref in task.get("runs") or []:
            run = runner.get(ref["id"]) or {}
            runs.append(
                {
                    "id": ref["id"],
                    "jobId": ref["jobId"],
                    "myPermissionLevel": level,
                    **{k: run.get(k) for k in ("state", "createdAt", "startedAt", "finishedAt")},
                }
            )
        tasks.append(dict(task, runs=runs, executions=[]))
    return dict(obj, tasks=tasks, user=req.store.objects.author(obj))


@handles("post", "workflows/{id}/executions")
def post_execution(req: Request) -> Reply:
    workflow = _workflow(req, level="write")
    definition = _definition(workflow)
    names = list(definition["tasks"])
    included = _names(body_get(req, "includedTasks"), "included_tasks", names)
    target = body_get(req, "targetTask")
    if target is not None and target not in names:
        raise ApiError(400, f"target_task: no task named {target!r}")
    engine = engine_of(req.platform)
    if workflow.get("allowConcurrentExecutions") is False:
        last = workflow.get("lastExecutionId")
        if workflow.get("state") == "running" and last and engine.known(last):
            raise ApiError(409, f"workflow {workflow['id']} is running (execution {last})")
    now = iso_now()
    record = req.store.objects.create(
        EXECUTIONS,
        {
            "workflowId": workflow["id"],
            "_parent": {"id": workflow["id"]},
            "definition": workflow.get("definition"),
            "input": body_get(req, "input") or {},
            "includedTasks": included,
            "targetTask": target,
            "state": "running",
            "mistralState": "RUNNING",
            "startedAt": now,
            "finishedAt": None,
        },
        req.user,
    )
    engine.start(record, req.user, definition)
    obj = _stored_execution(req, record["id"], workflow["id"])
    return Reply(shape(req, _view(req, obj)), status=201)


@handles("get", "workflows/{id}/executions")
def list_executions(req: Request) -> Reply:
    rows = _executions_of(req, _workflow(req))
    return paginate(
        req,
        shape(req, rows),
        default_limit=20,
        max_limit=50,
        order_keys={"id": lambda e: e["id"], "updated_at": lambda e: e["updatedAt"] or ""},
        default_order="id",
        default_dir="desc",
    )


def _executions_of(req: Request, workflow: dict[str, Any]) -> list[dict[str, Any]]:
    ids = req.platform.store.objects.select_ids(_executions_query(workflow), None)
    return [_view(req, obj) for obj in req.platform.store.objects.objects_by_id(ids)]


def _executions_query(workflow: dict[str, Any]) -> Any:
    from ..store import Query

    return Query((EXECUTIONS,), archived=None, parent={"id": workflow["id"]})


@handles("get", "workflows/{id}/executions/{execution_id}")
def get_execution(req: Request) -> Reply:
    workflow = _workflow(req)
    return Reply(shape(req, _view(req, _execution(req, workflow))))


@handles("post", "workflows/{id}/executions/{execution_id}/cancel")
def cancel_execution(req: Request) -> Reply:
    workflow = _workflow(req, level="write")
    obj = _execution(req, workflow)
    engine_of(req.platform).cancel(obj["id"])
    return Reply(shape(req, _view(req, _stored_execution(req, obj["id"], workflow["id"]))))


@handles("get", "workflows/{id}/executions/{execution_id}/tasks/{task_name}")
def get_execution_task(req: Request) -> Reply:
    workflow = _workflow(req)
    view = _view(req, _execution(req, workflow))
    name = req.path_params["task_name"]
    for task in view["tasks"]:
        if task["name"] == name:
            return Reply(shape(req, task))
    raise ApiError(404, f"execution {view['id']} has no task named {name!r}")


@handles("post", "workflows/{id}/executions/{execution_id}/resume")
def resume_execution(req: Request) -> Reply:
    _execution(req, _workflow(req, level="write"))
    raise ApiError(400, "executions never pause on this platform, so there is none to resume")


@handles("post", "workflows/{id}/executions/{execution_id}/retry")
def retry_execution(req: Request) -> Reply:
    _execution(req, _workflow(req, level="write"))
    raise ApiError(400, "retrying executions is not supported here; start a new execution")
