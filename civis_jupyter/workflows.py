"""Civis Platform workflow definitions: validation and structure.

A definition is Mistral workflow language v2 in YAML::

    version: "2.0"
    my_workflow:
      tasks:
        load:
          action: civis.run_job
          input: {job_id: 123}
          on-success: [report]
        report:
          action: civis.scripts.python3
          input: {source: "print('done')"}

:func:`validate_workflow_yaml` checks a definition before it is sent: ASCII
only, one workflow with tasks, known actions whose ``input`` matches the
arguments of the API call the action makes (``civis.scripts.sql`` takes those
of ``scripts.post_sql``, and so on, read from the API spec shipped with the
package), well-formed transitions, no task transitioning to itself or to a
task that does not exist, and ``requires`` naming existing tasks.

It needs pyyaml and jsonschema (``pip install 'civis-jupyter[workflows]'``).
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["WorkflowValidationError", "validate_workflow_yaml"]

#: Transition targets that are not tasks but commands to the workflow engine.
ENGINE_COMMANDS = frozenset({"pause", "succeed", "fail"})
_TRANSITIONS = ("on-success", "on-error", "on-complete")
_MISSING = (
    "validating workflows needs pyyaml and jsonschema: pip install 'civis-jupyter[workflows]'"
)
#: Task actions -> (resource, method) of the API call whose arguments ``input`` takes.
_CREATE_ACTIONS = {
    "civis.scripts.python3": ("scripts", "post_python3"),
    "civis.scripts.r": ("scripts", "post_r"),
    "civis.scripts.sql": ("scripts", "post_sql"),
    "civis.scripts.javascript": ("scripts", "post_javascript"),
    "civis.scripts.container": ("scripts", "post_containers"),
    "civis.scripts.dbt": ("scripts", "post_dbt"),
    "civis.scripts.custom": ("scripts", "post_custom"),
    "civis.enhancements.cass_ncoa": ("enhancements", "post_cass_ncoa"),
}
#: Actions that run an existing object, and the input naming it.
_RUN_ACTIONS = {"civis.run_job": "job_id", "civis.workflows.execute": "workflow_id"}
_STD_ACTIONS = ("std.async_noop", "std.echo", "std.fail", "std.noop")


class WorkflowValidationError(ValueError):
    """A workflow definition is not valid."""


def _yaml() -> Any:
    try:
        import yaml
    except ImportError as exc:
        raise ImportError(_MISSING) from exc
    return yaml


def transition_targets(value: Any) -> list[str]:
    """Task names a transition (``on-success``, ...) goes to.

    Parameters
    ----------
    value : str, list, dict or None
        A name; a list of names or ``{name: condition}`` items; or
        ``{"next": ...}``.

    Returns
    -------
    list of str
    """
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return transition_targets(value.get("next"))
    if isinstance(value, list):
        names = []
        for item in value:
            if isinstance(item, str):
                names.append(item)
            elif isinstance(item, dict) and len(item) == 1:
                names.append(str(next(iter(item))))
            else:
                raise WorkflowValidationError(
                    f"a transition must list task names or {{name: condition}} items, not {item!r}"
                )
        return names
    raise WorkflowValidationError(f"a transition must be a task name or a list, not {value!r}")


def parse_workflow_yaml(text: str) -> dict[str, Any]:
    """The workflow of a definition: its ``tasks`` (and ``type`` and the rest).

    Parameters
    ----------
    text : str
        The YAML definition.

    Returns
    -------
    dict
        The body of the definition's one workflow.

    Raises
    ------
    WorkflowValidationError
        (a ``ValueError``) if it is not YAML with one workflow whose tasks
        transition only to each other.
    """
    try:
        loaded = _yaml().safe_load(text)
    except Exception as exc:
        raise WorkflowValidationError(f"not valid YAML: {exc}") from None
    if not isinstance(loaded, dict):
        raise WorkflowValidationError("a workflow definition is a YAML mapping")
    workflows = {k: v for k, v in loaded.items() if k != "version"}
    if len(workflows) != 1:
        raise WorkflowValidationError(
            "a workflow definition has a version and exactly one workflow, "
            f"not {len(workflows)} ({', '.join(map(str, workflows)) or 'none'})"
        )
    body = next(iter(workflows.values()))
    tasks = body.get("tasks") if isinstance(body, dict) else None
    if not isinstance(tasks, dict) or not tasks:
        raise WorkflowValidationError("No workflow tasks found")
    _check_graph(tasks)
    return body


def _check_graph(tasks: dict[str, Any]) -> None:
    known = set(tasks) | ENGINE_COMMANDS
    for name, task in tasks.items():
        if not isinstance(task, dict):
            raise WorkflowValidationError(f"task {name!r} must be a mapping")
        for key in _TRANSITIONS:
            for target in transition_targets(task.get(key)):
                if target == name:
                    raise WorkflowValidationError(
                        f"A task cannot transition to itself: {name!r} does in {key!r}."
                    )
                if target not in known:
                    raise WorkflowValidationError(
                        f"Task {name!r} transitions to an undefined task {target!r} in {key!r}."
                    )
        requires = task.get("requires") or []
        for required in [requires] if isinstance(requires, str) else requires:
            if required not in tasks or required == name:
                raise WorkflowValidationError(
                    f"Task {name!r} requires {required!r}, which is not another task."
                )


def _method_params(resource: str, method: str) -> tuple[list[str], list[str]]:
    """Required and optional body arguments of an API call, from the bundled spec."""
    from .api.spec import load_spec
    from .testing import bundled_spec_path

    operation = load_spec(bundled_spec_path()).resources[resource][method]
    params = [p for p in operation.params if p.location == "body"]
    required = [p.name for p in params if p.required]
    optional = [p.name for p in params if not p.required]
    return required, optional


def _input_schema(action: str) -> dict[str, Any]:
    if action in _RUN_ACTIONS:
        name = _RUN_ACTIONS[action]
        return {
            "type": "object",
            "properties": {name: {}},
            "required": [name],
            "additionalProperties": False,
        }
    required, optional = _method_params(*_CREATE_ACTIONS[action])
    if "name" in required:  # the task's name is the script's name by default
        required.remove("name")
        optional.append("name")
    return {
        "type": "object",
        # Values may be YAQL expressions, so only the names are checked.
        "properties": {name: {} for name in required + optional},
        "required": required,
        "additionalProperties": False,
    }


_TRANSITION_SCHEMA = {
    "oneOf": [
        {"type": "string"},
        {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "object"}]}},
        {"type": "object", "properties": {"next": {}}},
    ]
}


@functools.cache
def _task_schema() -> dict[str, Any]:
    actions = [*_CREATE_ACTIONS, *_RUN_ACTIONS, "civis.import", *_STD_ACTIONS]
    by_action = [
        {
            "if": {"properties": {"action": {"const": action}}, "required": ["action"]},
            "then": {"properties": {"input": _input_schema(action)}},
        }
        for action in [*_CREATE_ACTIONS, *_RUN_ACTIONS]
    ]
    number = {"type": "number", "minimum": 0}
    return {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 255},
            "description": {"type": "string"},
            "action": {"type": "string", "enum": actions},
            "input": {"type": "object"},
            "publish": {"type": "object"},
            "publish-on-error": {"type": "object"},
            **dict.fromkeys(_TRANSITIONS, _TRANSITION_SCHEMA),
            "join": {"oneOf": [{"const": "all"}, {"type": "integer", "minimum": 1}]},
            "requires": {"oneOf": [{"type": "string"}, {"type": "array"}]},
            "with-items": {"oneOf": [{"type": "string"}, {"type": "array"}]},
            "keep-result": {"type": "boolean"},
            "target": {"type": "string"},
            "pause-before": {"type": "boolean"},
            "wait-before": number,
            "wait-after": number,
            "fail-on": {"type": "string"},
            "timeout": number,
            "retry": {"oneOf": [{"type": "string"}, {"type": "object"}]},
            "concurrency": {"type": "number", "minimum": 1},
            "safe-rerun": {"type": "boolean"},
        },
        "required": ["action"],
        "additionalProperties": False,
        "allOf": by_action,
    }


def _workflow_schema() -> dict[str, Any]:
    task = _task_schema()
    defaults = {k: v for k, v in task.items() if k not in ("required", "allOf")}
    return {
        "type": "object",
        "properties": {"version": {"const": "2.0"}},
        "required": ["version"],
        "additionalProperties": {
            "type": "object",
            "properties": {
                "type": {"enum": ["direct", "reverse"]},
                "description": {"type": "string"},
                "input": {"type": "array"},
                "task-defaults": defaults,
                "tasks": {"type": "object", "additionalProperties": task, "minProperties": 1},
            },
            "required": ["tasks"],
        },
    }


def _check_ascii(text: str) -> None:
    for line_no, line in enumerate(text.splitlines(), 1):
        for char_no, char in enumerate(line, 1):
            if not char.isascii():
                raise WorkflowValidationError(
                    "Workflow definition YAML cannot contain non-ASCII characters: "
                    f"(line {line_no}) {line!r}, (character {char_no}) {char!r}"
                )


def validate_workflow_yaml(wf_def: str, /) -> None:
    """Check a YAML workflow definition; raise if it is not valid.

    Parameters
    ----------
    wf_def : str
        The definition.

    Raises
    ------
    WorkflowValidationError
        Saying what is wrong and where.
    ImportError
        Without pyyaml and jsonschema (the ``workflows`` extra).
    """
    if not isinstance(wf_def, str):
        raise TypeError(f"wf_def must be a str, not {type(wf_def).__name__}")
    _check_ascii(wf_def)
    try:
        import jsonschema
    except ImportError as exc:
        raise ImportError(_MISSING) from exc
    loaded = _yaml().safe_load(wf_def) if wf_def.strip() else None
    try:
        jsonschema.validate(loaded, _workflow_schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the definition"
        raise WorkflowValidationError(f"{where}: {exc.message}") from None
    parse_workflow_yaml(wf_def)
