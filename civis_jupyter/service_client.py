"""Clients for the APIs of Civis Platform services, built from their own specs.

A Civis service is a web app the platform deploys; many serve a Swagger 2.0
spec of their own API (at ``/endpoints`` by default). :class:`ServiceClient`
asks the platform where the service is deployed (``services.get(id)``'s
``currentUrl``), reads that spec, and turns it into resources and methods
exactly as :class:`~civis_jupyter.APIClient` does for the Civis API, with the
method names the official client gives services' methods. Requests to the
service carry the API key as a ``Bearer`` token.

Examples
--------
>>> import civis_jupyter as civis
>>> survey = civis.ServiceClient(1234)  # doctest: +SKIP
>>> survey.responses.list()  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .api.client import RETURN_TYPES, get_api_key
from .api.errors import CivisAPIError
from .api.resources import Resource, resource_class
from .api.spec import ApiSpec, base_url, read_spec
from .api.transport import Transport

__all__ = ["ServiceClient", "parse_service_api_spec"]

SpecSource = Mapping[str, Any] | str | os.PathLike[str]


def _join(base: str, *parts: str | None) -> str:
    """``base`` and path parts joined with single slashes, ending in ``/``."""
    pieces = [base.rstrip("/")] + [p.strip("/") for p in parts if p and p.strip("/")]
    return "/".join(pieces) + "/"


def _without_root(raw: Mapping[str, Any], root_path: str | None) -> dict[str, Any]:
    """The spec with ``root_path`` taken off the front of its paths.

    Paths that are the root itself (or the service's ``/``) name no resource
    and are left out.
    """
    root = (root_path or "").strip("/")
    paths: dict[str, Any] = {}
    for path, ops in (raw.get("paths") or {}).items():
        stripped = path.strip("/")
        if root and (stripped == root or stripped.startswith(root + "/")):
            stripped = stripped[len(root) :].strip("/")
        if stripped:
            paths["/" + stripped] = ops
    return {**raw, "paths": paths}


def _check_swagger(raw: Any, where: str) -> None:
    """Raise a clear error unless ``raw`` looks like a Swagger 2.0 spec."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("paths"), Mapping):
        raise ValueError(f"{where} is not a Swagger 2.0 API spec (it has no 'paths')")
    if "openapi" in raw:
        raise ValueError(
            f"{where} is an OpenAPI {raw['openapi']} spec; services must serve Swagger 2.0"
        )


def parse_service_api_spec(
    api_spec: Mapping[str, Any], root_path: str | None = None
) -> dict[str, type[Resource]]:
    """Build the resource classes of a service's API from its spec.

    Parameters
    ----------
    api_spec : dict or OrderedDict
        The service's Swagger 2.0 spec (``$ref``s may be left unresolved).
    root_path : str, optional
        A path prefix shared by the service's endpoints (e.g. ``"/api"``);
        it is not part of the resource names.

    Returns
    -------
    dict
        Resource name (the first path segment, snake_case) -> a
        :class:`~civis_jupyter.api.resources.Resource` subclass whose methods
        are named like the official client's (``GET /things`` is
        ``things.list``, ``GET /things/{id}`` is ``things.get``).
    """
    _check_swagger(api_spec, "The service's spec")
    spec = ApiSpec(_without_root(api_spec, root_path), legacy_names=True, excluded=())
    return {name: resource_class(spec, name) for name in spec.resources}


class ServiceClient:
    """A client for the API of a Civis Platform service.

    The service's resources become attributes (``client.widgets``) whose
    methods are generated from the spec the service serves, as
    :class:`~civis_jupyter.APIClient` does for the Civis API.

    Parameters
    ----------
    service_id : int or str
        The ID of the service (a platform ``/services`` object).
    root_path : str, optional
        A path prefix shared by every endpoint of the service's API, e.g.
        ``"/api"``; requests go to ``<service URL>/<root_path>/...`` and the
        prefix is not part of the resource names.
    swagger_path : str, optional
        Where the service serves its Swagger 2.0 spec, relative to its URL
        (default ``"/endpoints"``).
    api_key : str, optional
        A Civis API key allowed to use the service; defaults to
        ``CIVIS_API_KEY``. It is used both to look the service up and to call
        it.
    return_type : {'snake', 'raw'}, optional
        ``'snake'`` (default) returns :class:`~civis_jupyter.Response`
        objects with snake_case keys; ``'raw'`` the ``requests.Response``.
    local_api_spec : dict, OrderedDict, str or pathlib.Path, optional
        The service's spec (loaded, as JSON text, or a path to a JSON file),
        used instead of downloading it from the service.

    Attributes
    ----------
    last_response : Response or None
        What the latest call to the service returned.

    Raises
    ------
    ValueError
        For an unknown ``return_type``, a service that is not deployed (no
        current URL), or a spec that is not Swagger 2.0.
    civis_jupyter.CivisAPIError
        When the platform does not know the service (404) or the service
        refuses to serve its spec.
    """

    def __init__(
        self,
        service_id: int | str,
        root_path: str | None = None,
        swagger_path: str = "/endpoints",
        api_key: str | None = None,
        return_type: str = "snake",
        local_api_spec: SpecSource | None = None,
    ):
        if return_type not in RETURN_TYPES:
            raise ValueError(f"return_type must be one of {RETURN_TYPES}, not {return_type!r}")
        self._api_key = api_key
        self._service_id = service_id
        self._root_path = root_path
        self._swagger_path = swagger_path
        self._return_type = return_type
        self.last_response: Any = None
        self._raw_spec: Mapping[str, Any] | None = None
        self._classes: dict[str, type[Resource]] | None = None
        self._base_url = self.get_base_url()
        key = get_api_key(api_key)
        self._transport = Transport(key, _join(self._base_url, root_path), bearer=True)
        for name, cls in self.generate_classes_maybe_cached(local_api_spec).items():
            setattr(self, name, cls(self))

    def __repr__(self) -> str:
        return f"<civis_jupyter.ServiceClient {self._service_id} at {self._base_url}>"

    def __getstate__(self) -> None:
        raise RuntimeError(
            "A ServiceClient cannot be pickled; create a new one in the other process."
        )

    def get_base_url(self) -> str:
        """Ask the platform for the service's current URL.

        Returns
        -------
        str
            The URL the service is deployed at (its ``currentUrl``).

        Raises
        ------
        civis_jupyter.CivisAPIError
            When the platform has no service with this ID visible to the key.
        ValueError
            When the service has no current URL (it is not deployed).
        """
        platform = Transport(get_api_key(self._api_key), base_url())
        path = f"services/{quote(str(self._service_id), safe='')}"
        try:
            service = platform.request("GET", path).json()
        except CivisAPIError as exc:
            if exc.status_code == 404:
                exc.error_message = (
                    f"No service with ID {self._service_id!r} is visible to this API key"
                )
                exc.args = (str(exc),)
            raise
        finally:
            platform.close()
        url = service.get("currentUrl")
        if not url:
            raise ValueError(
                f"Service {self._service_id} ({service.get('name')!r}) has no current URL: "
                "it is not deployed"
            )
        return url

    def get_api_spec(self) -> Mapping[str, Any]:
        """Download the service's spec (once per client).

        Returns
        -------
        dict
            The Swagger 2.0 spec served at ``swagger_path``.

        Raises
        ------
        civis_jupyter.CivisAPIError
            When the service answers with an error.
        ValueError
            When what it serves is not a Swagger 2.0 spec.
        """
        if self._raw_spec is None:
            url = _join(self._base_url, self._swagger_path).rstrip("/")
            response = self._transport.request("GET", url)
            try:
                raw = response.json()
            except ValueError:
                raise ValueError(f"The service's spec at {url} is not JSON") from None
            _check_swagger(raw, f"The service's spec at {url}")
            self._raw_spec = raw
        return self._raw_spec

    def generate_classes(self) -> dict[str, type[Resource]]:
        """The resource classes built from the service's downloaded spec.

        Returns
        -------
        dict
            Resource name -> resource class (see :func:`parse_service_api_spec`).
        """
        if self._classes is None:
            self._classes = parse_service_api_spec(self.get_api_spec(), self._root_path)
        return self._classes

    def generate_classes_maybe_cached(self, cache: SpecSource | None) -> dict[str, type[Resource]]:
        """The resource classes, from a local spec if one is given.

        Parameters
        ----------
        cache : dict, OrderedDict, str, pathlib.Path or None
            The service's spec (loaded, JSON text, or a path to a JSON file);
            ``None`` downloads it from the service.

        Returns
        -------
        dict
            Resource name -> resource class.
        """
        if cache is None:
            return self.generate_classes()
        return parse_service_api_spec(read_spec(cache), self._root_path)
