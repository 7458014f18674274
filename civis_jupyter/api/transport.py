"""HTTP transport: one session per client, auth, headers, retries, rate limits.

A :class:`Transport` owns one ``requests.Session`` whose connection pool is
shared by every thread using the client; requests from different threads run
concurrently (there is no process-wide lock).

The environment is honoured as ``requests`` honours it: ``HTTPS_PROXY`` /
``HTTP_PROXY`` / ``NO_PROXY``, ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` and
``.netrc`` (for URLs sent without the API key). Loopback addresses (the
embedded platform) never go through a proxy. ``ClientConfig(trust_env=False)``
turns all of that off. Timeouts and the pool size are :class:`ClientConfig`
settings.

tenacity is imported when the first request is sent, not with this module:
it imports tornado whenever tornado is installed, which would make
``import civis_jupyter`` slower than it needs to be.
"""

from __future__ import annotations

import contextlib
import email.utils
import ipaddress
import os
import platform
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from .._version import __version__
from .errors import CivisAPIError, CivisAPIKeyError

if TYPE_CHECKING:
    import tenacity

__all__ = [
    "IDEMPOTENT_VERBS",
    "RETRY_CODES",
    "ClientConfig",
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
VERBS = ("GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", "POST", "PATCH")
_CONNECTION_ERRORS = (requests.ConnectionError, requests.Timeout)


@dataclass(frozen=True)
class ClientConfig:
    """Connection settings of a client's transport.

    Parameters
    ----------
    connect_timeout : float, optional
        Seconds to wait for a connection (default 30).
    read_timeout : float or None, optional
        Seconds to wait for the server between bytes of a response (default
        600); ``None`` waits for ever.
    pool_maxsize : int, optional
        Connections kept open per host, i.e. how many threads' requests can
        be in flight at once without opening new ones (default 64).
    pool_connections : int, optional
        Hosts whose pools are kept (default 4).
    trust_env : bool, optional
        Honour the environment as ``requests`` does (proxies, CA bundle,
        ``.netrc``); default ``True``. ``False`` ignores it all.

    Examples
    --------
    >>> from civis_jupyter.api.transport import ClientConfig
    >>> ClientConfig(read_timeout=60, pool_maxsize=8).timeout
    (30.0, 60)
    """

    connect_timeout: float = 30.0
    read_timeout: float | None = 600.0
    pool_maxsize: int = 64
    pool_connections: int = 4
    trust_env: bool = True

    def __post_init__(self) -> None:
        if self.connect_timeout <= 0:
            raise ValueError(f"connect_timeout must be positive, not {self.connect_timeout!r}")
        if self.read_timeout is not None and self.read_timeout <= 0:
            raise ValueError(f"read_timeout must be positive or None, not {self.read_timeout!r}")
        for name in ("pool_maxsize", "pool_connections"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")

    @property
    def timeout(self) -> tuple[float, float | None]:
        """The ``(connect, read)`` timeout given to ``requests``."""
        return (self.connect_timeout, self.read_timeout)


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

    Importing tenacity is left to this call (see the module's docstring).

    Returns
    -------
    tenacity.Retrying
        Random exponential wait (multiplier 2, at most 60 s), stopping after
        600 s or 10 attempts; the last response is returned, not wrapped.
    """
    import tenacity

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


class _RetryWhen:
    """Which outcomes of a verb are retried (a tenacity ``retry`` condition).

    Retry statuses: 429/502/503/504 for idempotent verbs, which are retried
    after connection errors and timeouts too; 429/503 for POST; never PATCH.
    """

    def __init__(self, verb: str):
        self.codes: frozenset[int] = frozenset()
        if verb != "PATCH":
            self.codes = POST_RETRY_CODES if verb == "POST" else RETRY_CODES
        self.on_errors = verb in IDEMPOTENT_VERBS

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        outcome = retry_state.outcome
        if outcome is None:
            return False
        if outcome.failed:
            error = outcome.exception()
            return self.on_errors and isinstance(error, _CONNECTION_ERRORS)
        result = outcome.result()
        return isinstance(result, requests.Response) and result.status_code in self.codes


def _last_outcome(state: tenacity.RetryCallState) -> Any:
    # After the last attempt, hand back the last response (raised as a
    # CivisAPIError by the caller) or re-raise the last exception.
    assert state.outcome is not None  # tenacity calls this after an attempt
    return state.outcome.result()


class _HonourRetryAfter:
    """Wait at least as long as the platform's ``Retry-After`` asks."""

    def __init__(self, base: Callable[[tenacity.RetryCallState], float]):
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
    config : ClientConfig, optional
        Timeouts, pool size and whether the environment is honoured.
    bearer : bool, optional
        Send the key as ``Authorization: Bearer <key>`` (how Civis services
        take it) instead of HTTP Basic auth (how the Civis API takes it).
    """

    def __init__(
        self,
        api_key: str,
        base_url: str,
        retries: tenacity.Retrying | None = None,
        user_agent: str | None = None,
        *,
        config: ClientConfig | None = None,
        bearer: bool = False,
    ):
        if config is not None and not isinstance(config, ClientConfig):
            raise TypeError(f"config must be a ClientConfig, not {type(config).__name__}")
        self.base_url = base_url
        self.config = config or ClientConfig()
        self._auth: tuple[str, str] | _BearerAuth = (
            _BearerAuth(api_key) if bearer else (api_key, "")
        )
        self._headers = default_headers(user_agent)
        self._retries = retries
        self._policies: dict[str, tenacity.Retrying] | None = None
        self._local = threading.local()
        self.rate_limit: int | None = None
        self.calls_remaining: int | None = None
        self.requests_sent = 0
        self._lock = threading.Lock()
        self._session = self._new_session(self.config)

    def __repr__(self) -> str:
        return f"<Transport {self.base_url}>"

    @staticmethod
    def _new_session(config: ClientConfig) -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(
            pool_connections=config.pool_connections, pool_maxsize=config.pool_maxsize
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.trust_env = config.trust_env
        return session

    def _policy(self, verb: str) -> tenacity.Retrying:
        """The retry policy of a verb (tenacity is imported on first use)."""
        policies = self._policies
        if policies is None:
            with self._lock:
                if self._policies is None:
                    self._policies = _policies_by_verb(self._retries)
                policies = self._policies
        return policies[verb]

    def _send_settings(self, url: str, stream: bool) -> dict[str, Any]:
        """``send`` arguments from the environment: proxies, verify, cert."""
        settings: dict[str, Any] = dict(
            self._session.merge_environment_settings(url, {}, stream, None, None)
        )
        if _is_loopback(url):
            settings["proxies"] = {}
        return settings

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
        response = self._session.send(
            request, timeout=self.config.timeout, **self._send_settings(request.url or "", stream)
        )
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
        if verb not in VERBS:
            raise ValueError(f"unsupported HTTP verb {verb!r}")
        response = self._policy(verb)(self._send_once, prepared, stream)
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


class _BearerAuth(AuthBase):
    """Put an API key in a ``Bearer`` Authorization header (never in a repr)."""

    def __init__(self, api_key: str):
        self._api_key = api_key

    def __repr__(self) -> str:
        return "<_BearerAuth>"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._api_key}"
        return request


def _policies_by_verb(retries: tenacity.Retrying | None) -> dict[str, tenacity.Retrying]:
    """One copy of the policy per verb, with the verb's retry condition."""
    policy = retries if retries is not None else default_retrying()
    wait = _HonourRetryAfter(policy.wait)
    give_last = policy.retry_error_callback or _last_outcome
    return {
        verb: policy.copy(retry=_RetryWhen(verb), wait=wait, retry_error_callback=give_last)
        for verb in VERBS
    }


def _is_loopback(url: str) -> bool:
    """Whether a URL's host is this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
