"""The extension in a real Jupyter kernel: saved widget state, fallbacks, interrupts."""

from __future__ import annotations

import json
import queue

import pytest
from jupyter_client.manager import start_new_kernel
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

import civis_jupyter as civis


def test_saved_notebook_holds_widget_state_and_fallbacks_but_no_key(platform_env, tmp_path):
    nb = new_notebook(
        cells=[
            new_code_cell("%load_ext civis_jupyter"),
            new_code_cell(
                "%%civis_sql local -o rides\n"
                "SELECT station_id, SUM(rides) AS rides FROM public.cta_ridership_daily\n"
                "GROUP BY station_id ORDER BY station_id"
            ),
            new_code_cell("len(rides)"),
        ]
    )
    NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    text = json.dumps(nb)
    assert platform_env.api_key not in text
    stations = int(nb.cells[2].outputs[0]["data"]["text/plain"])
    assert stations > 100
    outputs = nb.cells[1].outputs
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == 2  # the status card while running, the table when done
    assert all("text/html" in o["data"] and "text/plain" in o["data"] for o in views)
    assert f"of {stations}" in views[-1]["data"]["text/html"]
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    models = [m["state"] for m in state.values()]
    assert any(m.get("state") == "succeeded" and m.get("run_id") for m in models)
    assert any(m.get("row_count") == stations and m.get("page") == 1 for m in models)


def test_line_form_and_client_in_a_kernel(platform_env, tmp_path):
    source = [
        "%load_ext civis_jupyter",
        "isinstance(client, civis.APIClient), type(client).__name__",
        "name = \"x' OR '1'='1\"\nv = %civis_sql local -- select {name} as v\nv['v'][0] == name",
        "w = %civis_sql local --preview 1 select {name} as v\nw['v'][0] == name",
        "n = %civis_sql local select 40 + 2 as answer\nint(n['answer'][0])",
    ]
    nb = new_notebook(cells=[new_code_cell(code) for code in source])
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    results = [cell.outputs[-1]["data"]["text/plain"] for cell in nb.cells[1:]]
    assert results == ["(True, 'APIClient')", "True", "True", "42"]


def _drain(kc, msg_id, timeout=120):
    """Messages of one execution until it is idle; returns (reply, outputs)."""
    outputs = []
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
        outputs.append(msg)
    return kc.get_shell_msg(timeout=timeout), outputs


def test_interrupting_the_kernel_cancels_the_run(platform_env, tmp_path):
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        msg_id = kc.execute("%load_ext civis_jupyter")
        _drain(kc, msg_id)
        slow = "%%civis_sql local\nSELECT COUNT(*) FROM range(100000000000) a(x) WHERE x % 7 = 3"
        msg_id = kc.execute(slow)
        # Wait until the run is live on the platform, then interrupt the kernel.
        client = civis.APIClient()
        card_seen = False
        while not card_seen:
            msg = kc.get_iopub_msg(timeout=120)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            data = msg["content"].get("data", {})
            card_seen = "text/plain" in data and "running" in data["text/plain"]
            card_seen = card_seen or "queued" in data.get("text/plain", "")
        sql_jobs = [j for j in client.jobs.list(hidden=True, limit=50) if j.name == "%%civis_sql"]
        job = max(sql_jobs, key=lambda j: j.id)
        km.interrupt_kernel()
        try:
            _reply, outputs = _drain(kc, msg_id)
        except queue.Empty:
            pytest.fail("the kernel did not come back after the interrupt")
        text = json.dumps([m["content"] for m in outputs])
        assert "Interrupted: cancelled run" in text
        runs = client.jobs.list_runs(job.id)
        assert runs[0].state == "cancelled"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
