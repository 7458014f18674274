"""Widget model state over time, driven by real runs on the embedded platform."""

from __future__ import annotations

import pytest

import civis_jupyter as civis
from civis_jupyter.jupyter.widgets.files import FilesBrowser, preview_bytes
from civis_jupyter.jupyter.widgets.jobs import JobsBrowser
from civis_jupyter.jupyter.widgets.run import RunWidget

from .waits import wait_for_trait


@pytest.fixture
def client(platform_env):
    return civis.APIClient()


def _gated_script(client, gate, name="gated"):
    """A container script that logs, waits for ``gate`` to exist, then logs again."""
    command = f"echo starting; while [ ! -e {gate} ]; do sleep 0.02; done; echo finished"
    return client.scripts.post_containers(
        {"cpu": 256, "memory": 512},
        name=name,
        docker_command=command,
        docker_image_name="civisanalytics/datascience-python",
    )


def test_run_widget_follows_the_future_live(client, tmp_path):
    gate = tmp_path / "go"
    script = _gated_script(client, gate)
    future = civis.utils.run_job(script["id"], client=client)
    widget = RunWidget(future, title="gated run")
    states = []
    widget.observe(lambda ch: states.append(ch["new"]), "state")
    wait_for_trait(widget, "log_text", lambda text: "starting" in text)
    assert widget.state == "running"
    gate.touch()
    future.result(timeout=60)
    wait_for_trait(widget, "state", lambda s: s == "succeeded")
    assert "finished" in widget.log_text
    assert states[-1] == "succeeded" and "running" in [widget.state, *states]
    assert widget.job_id == script["id"] and widget.run_id == future.run_id
    assert widget._cancel.disabled
    html = widget.static_html()
    assert "gated run" in html and "succeeded" in html and "finished" in html
    assert "succeeded" in widget.static_text()


def test_cancel_button_cancels_the_run(client, tmp_path):
    script = _gated_script(client, tmp_path / "never", name="to cancel")
    future = civis.utils.run_job(script["id"], client=client)
    widget = RunWidget(future)
    wait_for_trait(widget, "log_text", lambda text: "starting" in text)
    widget._cancel.click()
    wait_for_trait(widget, "state", lambda s: s == "cancelled")
    assert future.cancelled()
    assert client.jobs.get_runs(script["id"], future.run_id)["state"] == "cancelled"


def test_failed_run_shows_its_error(client):
    script = client.scripts.post_containers(
        {"cpu": 256, "memory": 512},
        name="fails",
        docker_command="echo oops >&2; exit 3",
        docker_image_name="x",
    )
    future = civis.utils.run_job(script["id"], client=client)
    widget = RunWidget(future)
    with pytest.raises(civis.CivisJobFailure):
        future.result(timeout=60)
    wait_for_trait(widget, "state", lambda s: s == "failed")
    assert "oops" in widget.log_text
    assert "failed" in widget.static_text()


def test_jobs_browser_filters_pages_runs_and_reruns(client, tmp_path):
    gate = tmp_path / "go"
    gate.touch()
    script = _gated_script(client, gate, name="browser-target-job")
    civis.utils.run_job(script["id"], client=client).result(timeout=60)
    browser = JobsBrowser(client, page_size=5)
    browser.search = "browser-target"
    assert [j["id"] for j in browser._jobs] == [script["id"]]
    browser.selected_job = script["id"]
    assert len(browser._runs) == 1 and browser.selected_run == browser._runs[0]["id"]
    view = browser.run_again()
    assert (view is not None and view.run_id != browser._runs[-1]["id"]) or len(browser._runs) == 2
    view.future.result(timeout=60)
    wait_for_trait(view, "state", lambda s: s == "succeeded")
    browser.state_filter = "failed"
    assert all(j.get("state") == "failed" for j in browser._jobs)
    assert "browser-target-job" not in browser.static_text()
    browser.state_filter = ""
    assert "browser-target-job" in browser.static_html()


def test_files_browser_finds_previews_links_downloads_and_uploads(client, tmp_path):
    import io

    import requests

    data = b"name,score\nada,1\nbob,2\n"
    file_id = civis.io.file_to_civis(io.BytesIO(data), "browser_scores.csv", client=client)
    browser = FilesBrowser(client, search="browser_scores")
    assert file_id in [f["id"] for f in browser._files]
    browser.selected_file = file_id
    assert "<table" in browser._preview.value and "ada" in browser._preview.value
    # Download is a link the browser follows: nothing is written by the kernel.
    url = browser.download_url()
    assert f'href="{url.replace("&", "&amp;")}"' in browser._download.value
    assert 'download="browser_scores.csv"' in browser._download.value
    assert requests.get(url, timeout=30).content == data
    assert list(tmp_path.iterdir()) == []
    new_id = browser.upload("upload_me.txt", b"hello")
    buf = io.BytesIO()
    civis.io.civis_to_file(new_id, buf, client=client)
    assert buf.getvalue() == b"hello"
    # The FileUpload widget's value (what the browser sends) goes the same way.
    sent = {"name": "from_browser.txt", "type": "text/plain", "size": 8, "last_modified": 0}
    browser._upload.set_state({"value": [{**sent, "content": memoryview(b"hi there")}]})
    assert "from_browser.txt" in browser.message and browser._upload.value == ()
    uploaded = int(browser.message.split("file ")[1].rstrip("."))
    buf = io.BytesIO()
    civis.io.civis_to_file(uploaded, buf, client=client)
    assert buf.getvalue() == b"hi there"


def test_preview_of_json_text_and_binary():
    assert "&quot;a&quot;" in preview_bytes("x.json", b'{"a": 1}', truncated=False)
    assert "<pre>line" in preview_bytes("x.log", b"line one\nline two", truncated=False)
    assert "binary" in preview_bytes("x.bin", b"\x00\x01\x02", truncated=False)


def test_list_responses_display_as_tables_that_fetch_pages(shell, platform_env):
    from ipywidgets.widgets.widget import _instances

    client = civis.APIClient(api_key=platform_env.create_user("pager"))
    for i in range(12):
        client.projects.post(name=f"pager project {i:02d}", description="")
    seen_pages = []
    client._transport.session.hooks["response"].append(
        lambda r, *a, **k: seen_pages.append(r.request.path_url)
    )
    paged = client.projects.list(iterator=True, limit=5)
    bundle, _ = shell.display_formatter.format(paged)
    model_id = bundle["application/vnd.jupyter.widget-view+json"]["model_id"]
    table = _instances[model_id]
    assert table.row_count == 12 and len(table.current_rows()) == 5
    fetched = len(seen_pages)
    table.page = 3
    assert len(table.current_rows()) == 2
    assert len(seen_pages) == fetched + 1 and "page_num=3" in seen_pages[-1]
    assert "rows 11-12 of 12" in table.static_html()
    one_page = client.projects.list(limit=5)
    bundle, _ = shell.display_formatter.format(one_page)
    assert "pager project" in bundle["text/html"]


def test_finished_card_has_no_cancel_no_run_none_and_no_api_link(client):
    query = civis.io.query_civis("select 1 as one", "local", client=client)
    query.result(timeout=60)
    card = RunWidget(query)
    wait_for_trait(card, "state", lambda s: s == "succeeded")
    assert card._cancel.layout.display == "none"
    html = card.static_html()
    assert "run None" not in html and "query " in html
    assert "<a " not in html and "/jobs/" not in html
    assert card.title == "select 1 as one"


def test_sql_card_hides_the_export_files_and_shows_an_error_once(client):
    from civis_jupyter.jupyter.widgets.files import is_internal_file

    ok = civis.io.export_to_civis_file("select 1 as one", "local", client=client)
    ok.result(timeout=60)
    card = RunWidget(ok, title="%%civis_sql")
    wait_for_trait(card, "state", lambda s: s == "succeeded")
    names = [o["name"] for o in client.jobs.list_runs_outputs(ok.job_id, ok.run_id)]
    assert names and all(is_internal_file(n) for n in names)
    assert card.outputs_text == "" and "output.csv" not in card.static_html()
    bad = civis.io.export_to_civis_file(
        "select * from no_such_table_anywhere", "local", client=client
    )
    card = RunWidget(bad, title="%%civis_sql")
    with pytest.raises(civis.CivisJobFailure):
        bad.result(timeout=60)
    wait_for_trait(card, "state", lambda s: s == "failed")
    html = card.static_html()
    assert html.count("no_such_table_anywhere") == 1
    assert "white-space:pre-wrap" in html and "word-break:normal" in html


def test_a_container_card_lists_its_outputs_with_grammar(client):
    from civis_jupyter.jupyter.widgets.base import plural

    script = client.scripts.post_containers(
        {"cpu": 256, "memory": 512}, name="one output", docker_command="true", docker_image_name="x"
    )
    future = civis.utils.run_job(script["id"], client=client)
    future.result(timeout=60)
    file_id = civis.io.file_to_civis(__import__("io").BytesIO(b"x"), "made.txt", client=client)
    client.scripts.post_containers_runs_outputs(script["id"], future.run_id, "File", file_id)
    card = RunWidget(future)
    wait_for_trait(card, "state", lambda s: s == "succeeded")
    assert "1 output<" in card.static_html() and "made.txt" in card.static_html()
    assert plural(1, "row") == "1 row" and plural(1234, "row") == "1,234 rows"


def test_table_sorts_by_header_clicks_and_formats_cells():
    import datetime as dt

    import pandas as pd

    from civis_jupyter.jupyter.widgets.table import TableWidget

    frame = pd.DataFrame(
        {
            "station": ["b", "a", "c"],
            "rides": [1234567, 42, None],
            "day": pd.to_datetime(["2024-01-02", "2024-01-01", "2024-01-03"]),
            "at": [dt.datetime(2024, 1, 1, 8, 30), None, dt.datetime(2024, 1, 2, 9, 0)],
        }
    )
    table = TableWidget(frame, page_size=2)
    rides_header = table._headers[1]
    assert "Sort by rides" in rides_header.tooltip
    rides_header.click()
    assert table.sort_by == "rides" and table.ascending
    assert table.current_rows()["station"].tolist() == ["a", "b"]
    assert rides_header.description == "rides ▲"
    rides_header.click()
    assert not table.ascending and table.current_rows()["station"].tolist() == ["b", "a"]
    column = table._cells[1].value
    assert "1,234,567" in column and "text-align:right" in column
    assert "2024-01-02<" in table._cells[2].value  # a date: no midnight time
    assert "2024-01-01 08:30:00" in table.static_html()
    assert "page 1 of 2" in table._info.value and "4 columns" in table._info.value
    for button in (table._first, table._prev, table._next, table._last):
        assert button.tooltip
    one = TableWidget(frame.head(1))
    assert "1 row · 4 columns" in one._info.value


def test_jobs_browser_lists_every_type_with_hidden_jobs_and_cancels_live_runs(client, tmp_path):
    query = civis.io.query_civis("select 7 as hidden_answer", "local", client=client)
    query.result(timeout=60)
    browser = JobsBrowser(client, page_size=50)
    assert query.job_id not in [j["id"] for j in browser._jobs]  # hidden by default
    browser.hidden = True
    assert query.job_id in [j["id"] for j in browser._jobs]
    labels = [label for label, _v in browser._type.options]
    assert "SQL query" in labels and "Import" in labels and "Container script" in labels
    script = _gated_script(client, tmp_path / "never", name="cancel from browser")
    future = civis.utils.run_job(script["id"], client=client)
    opened = JobsBrowser(client, job_id=script["id"], run_id=future.run_id)
    assert opened.selected_job == script["id"] and opened.selected_run == future.run_id
    view = opened._view
    assert view.title == "cancel from browser"
    wait_for_trait(view, "state", lambda s: s == "running")
    assert opened._cancel.layout.display is None  # shown for a live run
    assert opened.cancel_run() is True
    assert client.jobs.get_runs(script["id"], future.run_id)["state"] == "cancelled"
    assert opened._cancel.layout.display == "none"
    assert "just now" in opened._runs_list.options[0][0]


def test_relative_and_local_times():
    import time

    from civis_jupyter.jupyter.widgets.base import local_time, relative_time

    now = time.time()
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 185))
    assert relative_time(iso, now=now) == "3 min ago"
    day = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 86400 * 2 - 5))
    assert relative_time(day, now=now) == "2 days ago"
    assert relative_time(None) == "" and relative_time("soon") == "soon"
    assert local_time(iso) == time.strftime("%Y-%m-%d %H:%M", time.localtime(now - 185))


def test_card_opens_its_job_in_the_jobs_browser(client):
    script = client.scripts.post_containers(
        {"cpu": 256, "memory": 512}, name="open me", docker_command="true", docker_image_name="x"
    )
    future = civis.utils.run_job(script["id"], client=client)
    future.result(timeout=60)
    card = RunWidget(future)
    wait_for_trait(card, "state", lambda s: s == "succeeded")
    browser = card.toggle_browser()
    assert browser.selected_job == script["id"] and browser.selected_run == future.run_id
    assert card._browser_box.children == (browser,)
    assert card.toggle_browser() is None and card._browser_box.children == ()
