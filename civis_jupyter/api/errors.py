"""Exceptions raised by the client and the namespace built on it."""

from __future__ import annotations

from typing import Any

__all__ = [
    "CivisAPIError",
    "CivisAPIKeyError",
    "CivisImportError",
    "CivisJobFailure",
    "EmptyResultError",
]


NO_CONTENT = "No Response Content from Civis API"


def _error_text(response: Any) -> str:
    """The message of an error response, worded as the official client words it."""
    content = getattr(response, "content", b"") or b""
    if not content:  # e.g. a 502 from a proxy
        return getattr(response, "reason", None) or NO_CONTENT
    try:
        body = response.json()
    except ValueError as exc:
        # A body that is not JSON from its first character (HTML, plain text)
        # counts as no content; a broken JSON body is shown as it came.
        if "Expecting value: line 1 column 1 (char 0)" in str(exc):
            return NO_CONTENT
        return "Response Content: " + content.decode("utf-8", "replace")
    if isinstance(body, dict):
        return body.get("errorDescription") or "No Error Message Available"
    return "No Error Message Available"


class CivisAPIError(Exception):
    """An error response from the Civis API.

    Parameters
    ----------
    response : requests.Response
        The failed response.

    Attributes
    ----------
    status_code : int
        The HTTP status.
    error_message : str
        The API's ``errorDescription`` (or a fallback text).
    response : requests.Response
        The response itself (its request carries no credentials in ``str``).
    """

    def __init__(self, response: Any):
        self.response = response
        self._response = response
        self.status_code: int | None = getattr(response, "status_code", None)
        self.error_message = _error_text(response)
        super().__init__(str(self))

    def __str__(self) -> str:
        if not self.status_code:
            return self.error_message
        request = getattr(self.response, "request", None)
        where = ""
        if request is not None:
            where = f" ({request.method} {request.path_url})"
        return f"({self.status_code}) {self.error_message}{where}"


class CivisAPIKeyError(Exception):
    """The API key is missing, wrong or expired (a 401 from the platform)."""


class CivisJobFailure(Exception):
    """A Civis job run ended in failure.

    Parameters
    ----------
    err_msg : str
        The run's error text.
    response : Response, optional
        The last run response.
    job_id, run_id : int, optional
        The job and run that failed.
    """

    def __init__(
        self,
        err_msg: str,
        response: Any = None,
        job_id: int | None = None,
        run_id: int | None = None,
    ):
        self.job_id = job_id
        self.run_id = run_id
        self.response = response
        self._original_err_msg = err_msg
        if job_id is None and run_id is None:
            self.error_message = str(err_msg)
        elif run_id is None:
            self.error_message = f"(From job {job_id}) {err_msg}"
        else:
            self.error_message = f"(From job {job_id} / run {run_id}) {err_msg}"
        super().__init__(self.error_message)

    def __str__(self) -> str:
        return self.error_message


class EmptyResultError(Exception):
    """A query or export produced no result to read."""


class CivisImportError(Exception):
    """An import into Civis failed."""
