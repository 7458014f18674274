"""States and the schedule of a run followed on its own."""

from __future__ import annotations

from ..api.states import FINAL_STATES, SUCCESS_STATES

DONE = FINAL_STATES
SUCCEEDED = SUCCESS_STATES
#: First polling interval of a run followed on its own, its growth, and the cap.
FIRST_INTERVAL = 0.25
GROWTH = 1.3
MAX_INTERVAL = 15.0
#: Seconds the platform may hold a request while one run is followed
#: (shorter when someone watches every change, such as a live widget).
LONG_POLL = 10.0
WATCHED_LONG_POLL = 2.0
#: Log lines read to explain a failure that has no error text.
LOG_TAIL = 25
