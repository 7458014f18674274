"""How generated methods turn arguments into HTTP requests."""

from __future__ import annotations

import base64
import inspect

import pytest

import civis_jupyter as civis

from .conftest import API_KEY


def test_unknown_keyword_is_a_type_error_and_nothing_is_sent(client, api_server):
    with pytest.raises(TypeError, match=r"post_sql\(\) got an unexpected keyword argument"):
        client.scripts.post_sql("n", "select 1", 1, 2, bogus=3)
    with pytest.raises(TypeError, match="missing a required argument"):
        client.scripts.post_sql("n")
    with pytest.raises(TypeError, match="too many positional"):
        client.scripts.get_sql(1, 2)
    assert [s for s in api_server.seen if s.path != "/endpoints"] == []


def test_only_passed_arguments_are_sent(client, api_server):
    api_server.route("POST", "/scripts/sql", {"id": 7, "name": "n"}, status=201)
    client.scripts.post_sql("n", "select 1", 3, 4, hidden=True, parent_id=None)
    (seen,) = api_server.requests_to("/scripts/sql")
    assert seen.json() == {
        "name": "n",
        "sql": "select 1",
        "remoteHostId": 3,
        "credentialId": 4,
        "hidden": True,
        "parentId": None,
    }


def test_path_and_query_parameters(client, api_server):
    api_server.route("GET", "/scripts/sql/5/runs/9/logs", [])
    client.scripts.list_sql_runs_logs(5, 9, last_id=3)
    (seen,) = api_server.requests_to("/scripts/sql/5/runs/9/logs")
    assert seen.query == {"last_id": ["3"]}
    assert seen.body == b""


def test_arrays_go_as_bracketed_names(client, api_server):
    api_server.route("GET", "/tables", [])
    client.tables.list(table_tag_ids=[1, 2], database_id=3)
    (seen,) = api_server.requests_to("/tables")
    assert seen.query == {"table_tag_ids[]": ["1", "2"], "database_id": ["3"]}


def test_path_values_are_quoted(client, api_server):
    api_server.route("GET", "/databases/1/schemas/a%20b/tables/c%2Fd", {"name": "x"})
    client.databases.get_schemas_tables(1, "a b", "c/d")
    assert api_server.requests_to("/databases/1/schemas/a%20b/tables/c%2Fd")


def test_basic_auth_user_agent_and_job_headers(client, api_server, monkeypatch):
    monkeypatch.setenv("CIVIS_JOB_ID", "11")
    monkeypatch.setenv("CIVIS_RUN_ID", "12")
    api_server.route("GET", "/users/me", {"id": 1, "username": "me"})
    in_job = civis.APIClient(local_api_spec=client.spec.raw)
    in_job.users.get_me()
    seen = api_server.requests_to("/users/me")[-1]
    assert (
        seen.headers["Authorization"]
        == "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()
    )
    assert "civis-jupyter/" in seen.headers["User-Agent"]
    assert seen.headers["X-Civis-Job-ID"] == "11" and seen.headers["X-Civis-Run-ID"] == "12"


def _paged(items, per_page, with_headers):
    def handler(seen):
        page = int(seen.query.get("page_num", ["1"])[0])
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if with_headers:
            total_pages = max(1, -(-len(items) // per_page))
            headers = {
                "X-Pagination-Current-Page": str(page),
                "X-Pagination-Total-Pages": str(total_pages),
                "X-Pagination-Per-Page": str(per_page),
                "X-Pagination-Total-Entries": str(len(items)),
            }
        return 200, headers, chunk

    return handler


def test_iterator_stops_on_pagination_headers_without_an_extra_request(client, api_server):
    items = [{"id": i, "name": f"job {i}"} for i in range(1, 8)]
    api_server.route("GET", "/jobs", _paged(items, 3, with_headers=True))
    result = client.jobs.list(iterator=True, limit=3)
    assert isinstance(result, civis.PaginatedResponse)
    assert [r.id for r in result] == list(range(1, 8))
    pages = [s.query["page_num"] for s in api_server.requests_to("/jobs")]
    assert pages == [["1"], ["2"], ["3"]]


def test_iterator_without_headers_stops_at_the_empty_page(client, api_server):
    items = [{"id": i} for i in range(1, 5)]
    api_server.route("GET", "/jobs", _paged(items, 2, with_headers=False))
    assert [r["id"] for r in client.jobs.list(iterator=True, limit=2)] == [1, 2, 3, 4]
    assert len(api_server.requests_to("/jobs")) == 3


def test_help_dir_and_docstrings(client):
    assert "list_sql_runs_logs" in dir(client.scripts)
    assert "scripts" in dir(client)
    doc = client.scripts.list_sql_runs_logs.__doc__
    assert "API URL: ``GET /scripts/sql/{id}/runs/{run_id}/logs``" in doc
    assert "Parameters\n----------" in doc and "Returns\n-------" in doc
    assert "last_id : int, optional" in doc
    text = inspect.getdoc(client.workflows.list)
    assert "iterator : bool, optional" in text
    assert API_KEY not in doc


def test_help_on_a_resource_lists_its_methods(client):
    import pydoc

    text = pydoc.render_doc(client.workflows, renderer=pydoc.plaintext)
    assert "list_executions" in text and "post_executions" in text


def test_ipython_inspector_shows_docstring(client):
    from IPython.testing.globalipapp import get_ipython, start_ipython

    shell = start_ipython() or get_ipython()
    shell.user_ns["inspected_client"] = client
    info = shell.object_inspect("inspected_client.workflows.get")
    assert "API URL: ``GET /workflows/{id}``" in info["docstring"]

    import rlcompleter

    completer = rlcompleter.Completer({"c": client})
    assert completer.complete("c.workflows.list_ex", 0) == "c.workflows.list_executions("
    assert completer.complete("c.workfl", 0) == "c.workflows"


def test_raw_return_type(api_server, official_spec_path):
    api_server.route("GET", "/users/me", {"id": 1})
    raw = civis.APIClient(local_api_spec=official_spec_path, return_type="raw")
    response = raw.users.get_me()
    assert response.status_code == 200 and response.json() == {"id": 1}
    with pytest.raises(ValueError, match="return_type"):
        civis.APIClient(local_api_spec=official_spec_path, return_type="pandas")


def test_last_response_is_kept(client, api_server):
    api_server.route("GET", "/users/me", {"id": 5})
    assert client.users.get_me() is client.last_response
