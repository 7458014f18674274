"""validate_workflow_yaml: the same verdicts as the official client's, with clear messages."""

from __future__ import annotations

import sys
import warnings

import pytest

from civis_jupyter.workflows import WorkflowValidationError, validate_workflow_yaml

pytest.importorskip("jsonschema")

GOOD = """\
version: "2.0"
wf:
  tasks:
    load:
      action: civis.run_job
      input: {job_id: 12}
      on-success: [report]
      on-error: fail
    report:
      action: civis.scripts.sql
      input: {sql: select 1, remote_host_id: 1, credential_id: 2}
      on-complete:
        - notify: <% $.x %>
    notify:
      action: civis.scripts.python3
      input: {source: "print('hi')"}
"""

BAD = {
    "undefined target": (GOOD.replace("[report]", "[nowhere]"), "undefined task 'nowhere'"),
    "self transition": (GOOD.replace("[report]", "[load]"), "cannot transition to itself"),
    "unknown action": (GOOD.replace("civis.run_job", "civis.teleport"), "civis.teleport"),
    "input of another call": (GOOD.replace("job_id", "jobid"), "job_id"),
    "missing required input": (GOOD.replace("sql: select 1, ", ""), "'sql' is a required"),
    "non-ASCII": (GOOD + "# caf\u00e9\n", "non-ASCII"),
    "no version": (GOOD.replace('version: "2.0"\n', ""), "version"),
    "no tasks": ('version: "2.0"\nwf:\n  tasks: {}\n', "tasks"),
    "unknown task key": (GOOD.replace("on-error: fail", "on-eror: fail"), "on-eror"),
}


def test_a_good_definition_passes():
    assert validate_workflow_yaml(GOOD) is None


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_definitions_are_refused_saying_why(case):
    text, message = BAD[case]
    with pytest.raises(WorkflowValidationError, match=message):
        validate_workflow_yaml(text)


def test_requires_must_name_other_tasks():
    text = GOOD.replace("      on-complete:", "      requires: [ghost]\n      on-complete:")
    with pytest.raises(WorkflowValidationError, match="requires 'ghost'"):
        validate_workflow_yaml(text)


@pytest.mark.parametrize("case", ["good", *sorted(BAD)])
def test_verdicts_match_the_official_validator(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from civis.workflows import WorkflowValidationError as OfficialError
        from civis.workflows import validate_workflow_yaml as official

    text = GOOD if case == "good" else BAD[case][0]
    try:
        official(text)
        official_ok = True
    except OfficialError:
        official_ok = False
    try:
        validate_workflow_yaml(text)
        ours_ok = True
    except WorkflowValidationError:
        ours_ok = False
    assert ours_ok == official_ok


def test_without_jsonschema_the_extra_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "jsonschema", None)
    with pytest.raises(ImportError, match=r"civis-jupyter\[workflows\]"):
        validate_workflow_yaml(GOOD)
