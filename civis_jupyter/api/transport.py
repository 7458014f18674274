"""HTTP transport: one session per client, auth, headers, retries, rate limits.

A :class:`Transport` owns one ``requests.Session`` whose connection pool is
shared by every thread using the client; requests from different threads run
concurrently (there is no process-wide lock).
"""

from __future__ import annotations

import contextlib
import email.utils
import os
import platform
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import requests
import tenacity
from requests.adapters import HTTPAdapter

from .._version import __version__
from .errors import CivisAPIError, CivisAPIKeyError

__all__ = [
    "IDEMPOTENT_VERBS",
    "RETRY_CODES",
    "Transport",
    "default_headers",
    "default_retrying",
    "retry_after_seconds",
]

#: Status codes retried for idempotent verbs.
RETRY_CODES = frozenset({429, 502, 503, 504})
#: Status codes retried for POST.
POST_RETRY_CODES = frozenset({429, 503})
IDEMPOTENT_VERBS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
POOL_SIZE = 64


def default_headers(user_agent: str | None = None) -> dict[str, str]:
    """Headers sent with every request.

    Parameters
    ----------
    user_agent : str, optional
        A product token to put in front of the library's own.

    Returns
    -------
    dict
        ``User-Agent`` and, inside a Civis job, ``X-Civis-Job-ID`` /
        ``X-Civis-Run-ID``.
    """
    agent = (
        f"civis-jupyter/{__version__} (Python {platform.python_version()}; "
        f"requests {requests.__version__})"
    )
    if user_agent:
        agent = f"{user_agent.strip()} {agent}"
    headers = {"User-Agent": agent}
    job_id, run_id = os.environ.get("CIVIS_JOB_ID"), os.environ.get("CIVIS_RUN_ID")
    if job_id:
        headers["X-Civis-Job-ID"] = job_id
        if run_id:
            headers["X-Civis-Run-ID"] = run_id
    return headers


def default_retrying() -> tenacity.Retrying:
    """The default retry policy: random exponential back-off, at most 10 tries.

    Returns
    -------
    tenacity.Retrying
        Random exponential wait (multiplier 2, at most 60 s), stopping after
        600 s or 10 attempts; the last response is returned, not wrapped.
    """
    return tenacity.Retrying(
        wait=tenacity.wait_random_exponential(multiplier=2, max=60),
        stop=tenacity.stop_after_delay(600) | tenacity.stop_after_attempt(10),
        retry_error_callback=_last_outcome,
    )


def retry_after_seconds(response: requests.Response | None) -> float:
    """Seconds asked for by a ``Retry-After`` header (0 if none).

    Parameters
    ----------
    response : requests.Response or None

    Returns
    -------
    float
    """
    if response is None:
        return 0.0
    value = response.headers.get("Retry-After")
    if not value:
        return 0.0
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        if when is None:
            return 0.0
        return max(0.0, when.timestamp() - time.time())


def _retryable(verb: str) -> tenacity.retry_base:
    codes = POST_RETRY_CODES if verb == "POST" else RETRY_CODES
    if verb == "PATCH":
        return tenacity.retry_never
    by_status = tenacity.retry_if_result(
        lambda r: isinstance(r, requests.Response) and r.status_code in codes
    )
    if verb in IDEMPOTENT_VERBS:
        return by_status | tenacity.retry_if_exception_type(
            (requests.ConnectionError, requests.Timeout)
        )
    return by_status


def _last_outcome(state: tenacity.RetryCallState) -> Any:
    # After the last attempt, hand back the last response (raised as a
    # CivisAPIError by the caller) or re-raise the last exception.
    return state.outcome.result()


class _HonourRetryAfter(tenacity.wait.wait_base):
    """Wait at least as long as the platform's ``Retry-After`` asks."""

    def __init__(self, base: Any):
        self.base = base

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        response = None
        if outcome is not None and not outcome.failed:
            response = outcome.result()
        return max(retry_after_seconds(response), float(self.base(retry_state)))


class Transport:
    """Send API requests for one client.

    Parameters
    ----------
    api_key : str
        The Civis API key (sent with HTTP Basic auth; never shown).
    base_url : str
        The API endpoint, ending in ``/``.
    retries : tenacity.Retrying, optional
        The retry policy; its ``retry`` condition is set here by verb.
    user_agent : str, optional
        Extra product token for the ``User-Agent`` header.
    """

    def __init__(
        self,
        api_key: str,
        base_url: str,
        retries: tenacity.Retrying | None = None,
        user_agent: str | None = None,
    ):
        self.base_url = base_url
        self._auth = (api_key, "")
        self._headers = default_headers(user_agent)
        policy = retries if retries is not None else default_retrying()
        wait = _HonourRetryAfter(policy.wait)
        give_last = policy.retry_error_callback or _last_outcome
        self._policies = {
            verb: policy.copy(retry=_retryable(verb), wait=wait, retry_error_callback=give_last)
            for verb in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", "POST", "PATCH")
        }
        self._local = threading.local()
        self.rate_limit: int | None = None
        self.calls_remaining: int | None = None
        self.requests_sent = 0
        self._lock = threading.Lock()
        self._session = self._new_session()

    def __repr__(self) -> str:
        return f"<Transport {self.base_url}>"

    @staticmethod
    def _new_session() -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.trust_env = False
        return session

    @property
    def session(self) -> requests.Session:
        """The shared ``requests.Session`` (auth is added per request)."""
        return self._session

    def url(self, path: str) -> str:
        """Absolute URL for an API path."""
        return self.base_url + path.lstrip("/")

    def _send_once(self, request: requests.PreparedRequest, stream: bool) -> requests.Response:
        with self._lock:
            self.requests_sent += 1
        response = self._session.send(request, stream=stream, timeout=(30, 600))
        limit = response.headers.get("X-RateLimit-Limit")
        remaining = response.headers.get("X-RateLimit-Remaining")
        if limit and remaining:
            self.rate_limit, self.calls_remaining = int(limit), int(remaining)
        return response

    def request(
        self,
        verb: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        *,
        stream: bool = False,
        raise_for_status: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send a request with retries and return the (successful) response.

        Parameters
        ----------
        verb : str
            HTTP verb.
        path : str
            API path relative to the endpoint, or an absolute URL.
        params : dict, optional
            Query parameters; sequences are sent as ``name[]``.
        json : Any, optional
            JSON body.
        stream : bool, optional
            Stream the response body.
        raise_for_status : bool, optional
            Raise :class:`CivisAPIError` for error responses (default).
        headers : Mapping, optional
            Extra headers for this request (added to those of
            :meth:`extra_headers` for the calling thread).

        Returns
        -------
        requests.Response

        Raises
        ------
        CivisAPIKeyError
            On 401.
        CivisAPIError
            On any other error status, after retries.
        """
        verb = verb.upper()
        url = path if path.startswith(("http://", "https://")) else self.url(path)
        request = requests.Request(
            verb,
            url,
            params=encode_params(params),
            json=json,
            headers={**self._headers, **self.thread_headers(), **(headers or {})},
            auth=self._auth,
        )
        prepared = self._session.prepare_request(request)
        response = self._policies[verb](self._send_once, prepared, stream)
        if raise_for_status and not response.ok:
            if response.status_code == 401:
                detail = response.headers.get("WWW-Authenticate", "")
                raise CivisAPIKeyError(
                    "The Civis API rejected the API key (401"
                    + (f": {detail}" if detail else "")
                    + "). Check CIVIS_API_KEY."
                ) from CivisAPIError(response)
            raise CivisAPIError(response)
        return response

    def thread_headers(self) -> dict[str, str]:
        """Headers added to every request made by the calling thread."""
        return getattr(self._local, "headers", None) or {}

    @contextlib.contextmanager
    def extra_headers(self, headers: Mapping[str, str]) -> Iterator[None]:
        """Add headers to the calling thread's requests inside a ``with`` block.

        Parameters
        ----------
        headers : Mapping
            E.g. ``{"Prefer": "wait=5"}``.
        """
        previous = self.thread_headers()
        self._local.headers = {**previous, **headers}
        try:
            yield
        finally:
            self._local.headers = previous

    def close(self) -> None:
        """Close the connection pool."""
        self._session.close()


def encode_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Encode query parameters the way the Civis API expects.

    Parameters
    ----------
    params : dict or None
        Parameter name -> value.

    Returns
    -------
    dict or None
        Sequences under ``name[]``; booleans as ``true``/``false``.
    """
    if not params:
        return None
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (list, tuple, set, frozenset)):
            out[f"{key}[]"] = list(value)
        else:
            out[key] = value
    return out
