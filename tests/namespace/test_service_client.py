"""ServiceClient against the real LocalPlatform and a small real service.

The service is an ``http.server`` app on 127.0.0.1 serving a Swagger 2.0
spec of its own API at ``/endpoints`` (and, with every path under ``/api``,
at ``/api/endpoints``) and a few JSON routes that answer only requests
carrying the API key as a Bearer token. The platform is told where the
service is deployed the way its deployer would record it: the service
object's ``currentUrl`` in the store.
"""

from __future__ import annotations

import copy
import inspect
import json
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

import civis_jupyter as civis
from civis_jupyter.api.resources import Resource

WIDGET = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "colorName": {"type": "string"},
    },
}
SPEC: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "Widget service", "version": "1.0"},
    "definitions": {
        "Widget": WIDGET,
        "WidgetInput": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "colorName": {"type": "string"}},
            "required": ["name"],
        },
    },
    "paths": {
        "/widgets": {
            "get": {
                "summary": "List widgets",
                "parameters": [
                    {"name": "color", "in": "query", "required": False, "type": "string"},
                    {"name": "limit", "in": "query", "required": False, "type": "integer"},
                    {"name": "page_num", "in": "query", "required": False, "type": "integer"},
                ],
                "responses": {
                    "200": {
                        "description": "Widgets",
                        "schema": {"type": "array", "items": {"$ref": "#/definitions/Widget"}},
                    }
                },
            },
            "post": {
                "summary": "Create a widget",
                "parameters": [
                    {
                        "name": "WidgetInput",
                        "in": "body",
                        "required": True,
                        "schema": {"$ref": "#/definitions/WidgetInput"},
                    }
                ],
                "responses": {"201": {"description": "Created", "schema": WIDGET}},
            },
        },
        "/widgets/{id}": {
            "get": {
                "summary": "Get a widget",
                "parameters": [{"name": "id", "in": "path", "required": True, "type": "integer"}],
                "responses": {"200": {"description": "A widget", "schema": WIDGET}},
            },
            "patch": {
                "summary": "Update a widget",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "type": "integer"},
                    {
                        "name": "body",
                        "in": "body",
                        "required": True,
                        "schema": {"properties": {"colorName": {"type": "string"}}},
                    },
                ],
                "responses": {"200": {"description": "Updated", "schema": WIDGET}},
            },
        },
        "/widgets/{id}/parts/{part_id}": {
            "get": {
                "summary": "Get a part of a widget",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "type": "integer"},
                    {"name": "part_id", "in": "path", "required": True, "type": "integer"},
                ],
                "responses": {"200": {"description": "A part", "schema": {"type": "object"}}},
            }
        },
        "/widgets/old": {
            "get": {
                "summary": "Deprecated: list old widgets",
                "responses": {"200": {"description": "Old widgets"}},
            }
        },
        "/health-check": {
            "get": {
                "summary": "Report health",
                "responses": {"200": {"description": "Health", "schema": {"type": "object"}}},
            }
        },
    },
}


def _under(spec: dict[str, Any], root: str) -> dict[str, Any]:
    """The same spec with every path under ``root``."""
    moved = copy.deepcopy(spec)
    moved["paths"] = {root + path: ops for path, ops in spec["paths"].items()}
    return moved


class WidgetService:
    """A small real web service; only Bearer requests with ``key`` get answers."""

    def __init__(self, key: str):
        self.key = key
        self.widgets: dict[int, dict[str, Any]] = {}
        self.paths_seen: list[str] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                service.serve(self, "GET")

            def do_POST(self) -> None:
                service.serve(self, "POST")

            def do_PATCH(self) -> None:
                service.serve(self, "PATCH")

        return Handler

    def serve(self, http: BaseHTTPRequestHandler, verb: str) -> None:
        url = urlsplit(http.path)
        length = int(http.headers.get("Content-Length") or 0)
        body = json.loads(http.rfile.read(length)) if length else None
        with self.lock:
            self.paths_seen.append(f"{verb} {url.path}")
            if http.headers.get("Authorization") != f"Bearer {self.key}":
                status, headers, data = 401, {}, _error("Missing or wrong API key")
            else:
                status, headers, data = self.route(verb, url.path, parse_qs(url.query), body)
        payload = json.dumps(data).encode()
        http.send_response(status)
        http.send_header("Content-Type", "application/json")
        http.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            http.send_header(name, value)
        http.end_headers()
        http.wfile.write(payload)

    def route(
        self, verb: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        if path.startswith("/api/"):
            if path == "/api/endpoints":
                return 200, {}, _under(SPEC, "/api")
            path = path[len("/api") :]
        parts = path.strip("/").split("/")
        if verb == "GET" and path == "/endpoints":
            return 200, {}, SPEC
        if verb == "GET" and path == "/health-check":
            return 200, {}, {"isHealthy": True}
        if parts[0] != "widgets":
            return 404, {}, _error("No such route")
        if len(parts) == 1:
            return self.collection(verb, query, body)
        widget = self.widgets.get(int(parts[1]))
        if widget is None:
            return 404, {}, _error(f"Widget {parts[1]} not found")
        if verb == "PATCH":
            widget.update(body)
        if len(parts) == 4:
            return 200, {}, {"widgetId": widget["id"], "partId": int(parts[3])}
        return 200, {}, widget

    def collection(
        self, verb: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        if verb == "POST":
            if not body.get("name"):
                return 400, {}, _error("A widget needs a name")
            widget = {"id": len(self.widgets) + 1, "colorName": None, **body}
            self.widgets[widget["id"]] = widget
            return 201, {}, widget
        found = [
            w
            for w in self.widgets.values()
            if w["colorName"] in query.get("color", [w["colorName"]])
        ]
        limit = int(query.get("limit", ["50"])[0])
        page = int(query.get("page_num", ["1"])[0])
        pages = max(1, -(-len(found) // limit))
        headers = {"X-Pagination-Current-Page": str(page), "X-Pagination-Total-Pages": str(pages)}
        return 200, headers, found[(page - 1) * limit : page * limit]


def _error(description: str) -> dict[str, str]:
    return {"error": "error", "errorDescription": description}


@pytest.fixture
def service(platform: Any) -> Iterator[WidgetService]:
    app = WidgetService(platform.api_key)
    app.thread.start()
    try:
        yield app
    finally:
        app.server.shutdown()
        app.server.server_close()


@pytest.fixture
def service_id(client: Any, platform: Any, service: WidgetService) -> int:
    """A platform service deployed at the widget service's URL."""
    created = client.services.post(name="widgets")
    platform.store.objects.write_raw(
        created.id,
        {"currentUrl": service.url, "currentDeployment": {"displayUrl": service.url + "/"}},
    )
    return created.id


def _official_service_client(*args: Any, **kwargs: Any) -> Any:
    official = pytest.importorskip("civis")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # it is deprecated upstream
        return official.ServiceClient(*args, **kwargs)


def _resources(client: Any) -> list[str]:
    """Names of a service client's resource attributes (ours or the official one's)."""
    from civis.service_client import ServiceEndpoint

    kinds = (Resource, ServiceEndpoint)
    return sorted(name for name, value in vars(client).items() if isinstance(value, kinds))


def _methods(resource: Any) -> dict[str, inspect.Signature]:
    """Public methods of a resource object -> their signatures without ``iterator``."""
    out = {}
    base = set(dir(type(resource).__mro__[1]))
    for name in dir(type(resource)):
        if name.startswith("_") or name in base:
            continue
        sig = inspect.signature(getattr(resource, name))
        params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
        out[name] = sig.replace(
            parameters=[p for p in params if p.name != "iterator"],
            return_annotation=inspect.Signature.empty,
        )
    return out


def test_resources_and_methods_match_the_official_service_client(service_id, service):
    ours = civis.ServiceClient(service_id)
    official = _official_service_client(service_id, local_api_spec=OrderedDict(SPEC))

    assert _resources(ours) == _resources(official) == ["health_check", "widgets"]
    assert official._base_url == ours.get_base_url() == service.url
    for name in _resources(ours):
        assert _methods(getattr(ours, name)) == _methods(getattr(official, name)), name
    assert sorted(_methods(ours.widgets)) == ["get", "get_parts", "list", "patch", "post"]
    assert sorted(_methods(ours.health_check)) == ["list"]
    signature = inspect.signature(ours.widgets.post)
    assert list(signature.parameters) == ["name", "color_name"]
    assert "iterator" in inspect.signature(ours.widgets.list).parameters
    assert service.paths_seen == ["GET /endpoints"]  # the official one used the local spec


def test_calls_reach_the_service_with_the_key_as_bearer_token(service_id, service):
    sc = civis.ServiceClient(service_id)
    made = sc.widgets.post("gear", color_name="red")
    assert made.name == "gear" and made.color_name == "red"
    assert service.widgets[made.id]["colorName"] == "red"  # sent camelCase
    sc.widgets.post("cog")
    assert sc.widgets.patch(made.id, color_name="blue").color_name == "blue"
    assert [w.name for w in sc.widgets.list()] == ["gear", "cog"]
    assert [w.name for w in sc.widgets.list(color="blue")] == ["gear"]
    assert sc.widgets.get_parts(made.id, 7) == {"widget_id": made.id, "part_id": 7}
    assert sc.health_check.list().is_healthy is True
    assert sc.last_response.is_healthy is True
    paged = sc.widgets.list(limit=1, iterator=True)
    assert [w.name for w in paged] == ["gear", "cog"]
    assert "GET /widgets" in service.paths_seen


def test_raw_return_type_gives_the_http_response(service_id):
    sc = civis.ServiceClient(service_id, return_type="raw")
    response = sc.health_check.list()
    assert isinstance(response, requests.Response)
    assert response.json() == {"isHealthy": True}


@pytest.mark.parametrize("return_type", ["pandas", "civis"])
def test_unsupported_return_types_fail_before_any_request(return_type, service):
    with pytest.raises(ValueError, match="return_type must be one of"):
        civis.ServiceClient(1, return_type=return_type)
    assert service.paths_seen == []


def test_service_errors_raise_civis_api_errors(service_id):
    sc = civis.ServiceClient(service_id)
    with pytest.raises(civis.CivisAPIError, match=r"\(404\) Widget 99 not found"):
        sc.widgets.get(99)
    with pytest.raises(civis.CivisAPIError, match="A widget needs a name"):
        sc.widgets.post("")


def test_keys_the_platform_or_the_service_refuse_are_clear_and_never_shown(
    service_id, platform, client, service, monkeypatch
):
    outsider = platform.create_user(f"svc-outsider-{service_id}")
    with pytest.raises(civis.CivisAPIError, match="No service with ID") as hidden:
        civis.ServiceClient(service_id, api_key=outsider)
    monkeypatch.setenv("CIVIS_API_KEY", outsider)
    outsider_id = civis.APIClient().users.get_me().id
    client.services.put_shares_users(service_id, [outsider_id], "read")
    with pytest.raises(civis.CivisAPIKeyError) as refused:  # the service wants the owner's key
        civis.ServiceClient(service_id)
    assert service.paths_seen == ["GET /endpoints"]
    for error in (hidden.value, refused.value, refused.value.__cause__):
        assert outsider not in f"{error} {error!r}"


def test_unknown_service_id_is_a_clear_error(client):
    with pytest.raises(civis.CivisAPIError) as error:
        civis.ServiceClient(987654321)
    assert error.value.status_code == 404
    assert str(error.value) == (
        "(404) No service with ID 987654321 is visible to this API key (GET /services/987654321)"
    )


def test_service_that_is_not_deployed_is_a_clear_error(client):
    created = client.services.post(name="idle")
    with pytest.raises(ValueError, match=rf"Service {created.id} \('idle'\) has no current URL"):
        civis.ServiceClient(created.id)


def test_local_api_spec_is_used_without_fetching(service_id, service, tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(SPEC))
    for source in (SPEC, OrderedDict(SPEC), str(path), path, json.dumps(SPEC)):
        sc = civis.ServiceClient(service_id, local_api_spec=source)
        assert _resources(sc) == ["health_check", "widgets"]
    assert service.paths_seen == []
    assert sc.health_check.list().is_healthy is True
    with pytest.raises(TypeError, match="local_api_spec must be"):
        civis.ServiceClient(service_id, local_api_spec=42)
    with pytest.raises(ValueError, match=r"not a Swagger 2\.0 API spec"):
        civis.ServiceClient(service_id, local_api_spec={"swagger": "2.0"})


def test_root_path_and_swagger_path(service_id, service):
    sc = civis.ServiceClient(service_id, root_path="/api", swagger_path="/api/endpoints")
    official = _official_service_client(
        service_id, root_path="/api", local_api_spec=OrderedDict(_under(SPEC, "/api"))
    )
    assert _resources(sc) == _resources(official) == ["health_check", "widgets"]
    for name in _resources(sc):
        assert _methods(getattr(sc, name)) == _methods(getattr(official, name)), name
    assert sc.widgets.post("bolt").id == 1
    assert sc.widgets.get(1).name == "bolt"
    assert service.paths_seen == ["GET /api/endpoints", "POST /api/widgets", "GET /api/widgets/1"]


def test_generate_classes_and_api_spec(service_id, service):
    sc = civis.ServiceClient(service_id)
    assert sc.get_api_spec() == SPEC
    classes = sc.generate_classes()
    assert sorted(classes) == ["health_check", "widgets"]
    assert all(issubclass(cls, Resource) for cls in classes.values())
    assert isinstance(sc.widgets, classes["widgets"])
    assert service.paths_seen == ["GET /endpoints"]  # downloaded once
    assert "ServiceClient" in dir(civis) and str(service_id) in repr(sc)
