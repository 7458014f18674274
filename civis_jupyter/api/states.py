"""Run states: one definition for the client and the embedded platform.

A Civis run moves ``queued -> running -> succeeded | failed | cancelled``.
Some objects report other words: ``success`` (CivisML metadata and older
jobs), ``pending`` and ``scheduled`` (workflow executions and jobs waiting
for their turn), ``idle`` (a job waiting for its schedule or trigger).
"""

from __future__ import annotations

__all__ = [
    "ACTIVE_STATES",
    "CANCELLED",
    "DONE_STATES",
    "FAILED",
    "FINAL_STATES",
    "IDLE",
    "JOB_LIVE_STATES",
    "LIVE_STATES",
    "QUEUED",
    "RUNNING",
    "SUCCEEDED",
    "SUCCESS_STATES",
]

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
IDLE = "idle"

#: A run that is not over yet (the platform's run state machine).
ACTIVE_STATES = frozenset({QUEUED, RUNNING})
#: How a run of the platform's state machine ends.
DONE_STATES = frozenset({SUCCEEDED, FAILED, CANCELLED})
#: States that mean success, whichever word the object uses.
SUCCESS_STATES = frozenset({SUCCEEDED, "success"})
#: States after which a run never changes, whichever word the object uses.
FINAL_STATES = SUCCESS_STATES | {FAILED, CANCELLED}
#: Objects in these states may still change (long polls wait on them).
LIVE_STATES = ACTIVE_STATES | {"pending", "scheduled"}
#: Jobs in these states may still start or change (as ``/jobs`` lists them).
JOB_LIVE_STATES = LIVE_STATES | {IDLE}
