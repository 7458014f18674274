"""civis.io.transfer_table between two named databases of the embedded platform."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

import civis_jupyter as civis
from civis_jupyter.platform import LocalPlatform


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    data_dir = tmp_path_factory.mktemp("dbsync")
    with LocalPlatform(data_dir=data_dir, databases=["local", "archive"], rate_limit=10**6) as p:
        yield p


@pytest.fixture
def client(platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch) -> civis.APIClient:
    monkeypatch.setenv("CIVIS_API_ENDPOINT", platform.endpoint)
    monkeypatch.setenv("CIVIS_API_KEY", platform.api_key)
    return civis.APIClient()


def sql(client, database: str, text: str) -> list:
    return civis.io.query_civis(text, database, client=client).result().result_rows


def make_source(client, name: str, rows: int = 3) -> str:
    sql(
        client,
        "local",
        f"CREATE TABLE public.{name} AS SELECT range AS n, 'x' || range AS s FROM range({rows})",
    )
    return f"public.{name}"


def count(client, database: str, table: str) -> int:
    return int(sql(client, database, f"SELECT count(*) FROM {table}")[0][0])


def test_a_table_is_copied_to_another_database(client):
    source = make_source(client, "sales")
    future = civis.io.transfer_table("local", "archive", source, "backup.sales", client=client)
    run = future.result(60)
    assert run.state == "succeeded"
    rows = sql(client, "archive", "SELECT n, s FROM backup.sales ORDER BY n")
    assert [list(map(str, r)) for r in rows] == [["0", "x0"], ["1", "x1"], ["2", "x2"]]
    outputs = client.jobs.list_runs_outputs(future.job_id, future.run_id)
    assert [o.name for o in outputs] == ["backup.sales"] and outputs[0].object_type == "Table"
    job = client.imports.get(future.job_id)
    assert job.sync_type == "Dbsync" and job.syncs[0].destination.path == "backup.sales"


def test_an_existing_destination_fails_unless_told_what_to_do(client):
    source = make_source(client, "events", rows=2)
    civis.io.transfer_table("local", "archive", source, "public.events", client=client).result(60)
    again = civis.io.transfer_table("local", "archive", source, "public.events", client=client)
    with pytest.raises(civis.CivisJobFailure, match="exists"):
        again.result(60)
    civis.io.transfer_table(
        "local", "archive", source, "public.events", client=client, existing_table_rows="append"
    ).result(60)
    assert count(client, "archive", "public.events") == 4
    civis.io.transfer_table(
        "local", "archive", source, "public.events", client=client, existing_table_rows="drop"
    ).result(60)
    assert count(client, "archive", "public.events") == 2


def test_a_missing_source_table_fails_the_run_clearly(client):
    future = civis.io.transfer_table("local", "archive", "public.nope", "public.x", client=client)
    with pytest.raises(civis.CivisJobFailure, match=r"public\.nope does not exist"):
        future.result(60)


def test_bad_syncs_are_refused(client):
    db = client.get_database_id("local")
    cred = client.default_database_credential_id
    job = client.imports.post(
        "bad",
        "Dbsync",
        True,
        source={"remote_host_id": db, "credential_id": cred},
        destination={"remote_host_id": db, "credential_id": cred},
    )
    for kwargs, message in [
        ({"source": {"path": "no_schema"}, "destination": {"path": "a.b"}}, "schema.table"),
        (
            {
                "source": {"path": "a.b"},
                "destination": {"path": "a.c"},
                "advanced_options": {"existing_table_rows": "merge"},
            },
            "existingTableRows",
        ),
    ]:
        with pytest.raises(civis.CivisAPIError, match=message) as info:
            client.imports.post_syncs(job.id, **kwargs)
        assert info.value.status_code == 400


def test_the_official_transfer_table_works_against_the_platform(client):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import civis as official

    source = make_source(client, "official_src", rows=5)
    future = official.io.transfer_table(
        "local",
        "archive",
        source,
        "public.official_copy",
        client=official.APIClient(),
        polling_interval=0.2,
    )
    assert future.result(60).state == "succeeded"
    assert count(client, "archive", "public.official_copy") == 5
