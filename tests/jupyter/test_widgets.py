"""Widget model state over time, driven by real runs on the embedded platform."""

from __future__ import annotations

import threading

import pytest

import civis_jupyter as civis
from civis_jupyter.jupyter.widgets.files import FilesBrowser, preview_bytes
from civis_jupyter.jupyter.widgets.jobs import JobsBrowser
from civis_jupyter.jupyter.widgets.run import RunWidget


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


def _wait_for(widget, trait, predicate, timeout=60):
    seen = threading.Event()

    def check(_change=None):
        if predicate(getattr(widget, trait)):
            seen.set()

    widget.observe(check, trait)
    check()
    assert seen.wait(timeout), f"{trait} stayed {getattr(widget, trait)!r}"
    widget.unobserve(check, trait)


def test_run_widget_follows_the_future_live(client, tmp_path):
    gate = tmp_path / "go"
    script = _gated_script(client, gate)
    future = civis.utils.run_job(script["id"], client=client)
    widget = RunWidget(future, title="gated run")
    states = []
    widget.observe(lambda ch: states.append(ch["new"]), "state")
    _wait_for(widget, "log_text", lambda text: "starting" in text)
    assert widget.state == "running"
    gate.touch()
    future.result(timeout=60)
    _wait_for(widget, "state", lambda s: s == "succeeded")
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
    _wait_for(widget, "log_text", lambda text: "starting" in text)
    widget._cancel.click()
    _wait_for(widget, "state", lambda s: s == "cancelled")
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
    _wait_for(widget, "state", lambda s: s == "failed")
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
    _wait_for(view, "state", lambda s: s == "succeeded")
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
