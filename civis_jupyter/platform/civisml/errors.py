"""The error a CivisML run fails with when its input or arguments are bad."""

from __future__ import annotations

__all__ = ["CivisMLError"]


class CivisMLError(Exception):
    """A problem with a run's input or arguments, said in one line.

    The run fails with this message (in its log and its ``model_info.json``)
    instead of a traceback.
    """

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
