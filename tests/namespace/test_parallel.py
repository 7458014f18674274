"""civis_jupyter.parallel and the official civis.parallel, on the embedded platform.

Every task runs as a real platform run (a subprocess running the worker),
so batches are kept small.
"""

from __future__ import annotations

import _thread
import datetime as dt
import multiprocessing as mp
import os
import sys
import threading
import time
import warnings

import pytest

joblib = pytest.importorskip("joblib")
cloudpickle = pytest.importorskip("cloudpickle")

from civis_jupyter import parallel  # noqa: E402
from civis_jupyter._joblib_backend import (  # noqa: E402
    BatchProgress,
    RemoteTraceback,
    TaskPicklingError,
    download_bytes,
)
from civis_jupyter.jupyter.widgets.parallel import ParallelProgressWidget  # noqa: E402

from ..polling import wait_until  # noqa: E402

DONE = {"succeeded", "failed", "cancelled"}


def _wait_for_gate(path: str) -> str:
    while not os.path.exists(path):
        time.sleep(0.02)
    return path


def _fail(message: str) -> None:
    raise ValueError(message)


def _flaky(marker: str) -> str:
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError("first attempt fails")
    return "second attempt"


def _hidden_runs(client) -> list:
    """Every run of the user's hidden jobs (the backends' scripts are hidden)."""
    runs = []
    for job in client.jobs.list(hidden=True, limit=50, iterator=True):
        runs.extend(client.jobs.list_runs(job.id))
    return runs


def _job_ids(client) -> set[int]:
    return {job.id for job in client.jobs.list(hidden=True, limit=50, iterator=True)}


def _ts(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _max_overlap(runs) -> int:
    events = []
    for run in runs:
        events += [(_ts(run.started_at), 1), (_ts(run.finished_at), -1)]
    live = peak = 0
    for _when, step in sorted(events, key=lambda e: (e[0], e[1])):
        live += step
        peak = max(peak, live)
    return peak


@pytest.fixture
def ours(client):
    joblib.register_parallel_backend("civis", parallel.make_backend_factory(client=client))
    return client


def test_results_come_back_in_order_with_at_most_n_jobs_runs_at_once(ours):
    before = _job_ids(ours)
    with joblib.parallel_config("civis"):
        out = joblib.Parallel(n_jobs=2)(joblib.delayed(pow)(i, 3) for i in range(5))
    assert out == [i**3 for i in range(5)]
    new = _job_ids(ours) - before
    runs = [r for j in new for r in ours.jobs.list_runs(j)]
    assert len(runs) == 5 and {r.state for r in runs} == {"succeeded"}
    assert _max_overlap(runs) <= 2


def test_a_task_exception_is_raised_with_the_remote_traceback_and_the_rest_cancelled(
    ours, tmp_path
):
    gate = str(tmp_path / "never")
    before = _job_ids(ours)
    tasks = [joblib.delayed(_wait_for_gate)(gate) for _ in range(3)]
    tasks.insert(1, joblib.delayed(_fail)("task two broke"))
    with pytest.raises(ValueError, match="task two broke") as info, joblib.parallel_config("civis"):
        joblib.Parallel(n_jobs=4)(tasks)
    cause = info.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert "_fail" in str(cause) and "Traceback" in str(cause)
    new = _job_ids(ours) - before
    runs = [r for j in new for r in ours.jobs.list_runs(j)]
    assert len(runs) == 4
    assert all(r.state in DONE for r in runs), [r.state for r in runs]
    assert sorted(r.state for r in runs).count("cancelled") == 3


def test_an_unpicklable_argument_fails_before_any_run_starts(ours):
    before = _job_ids(ours)
    lock = threading.Lock()
    unpicklable = pytest.raises(TaskPicklingError, match=r"argument 1 of pow \(lock\)")
    with unpicklable, joblib.parallel_config("civis"):
        joblib.Parallel(n_jobs=2)(joblib.delayed(pow)(2, lock) for _ in range(4))
    assert _job_ids(ours) == before


def test_a_module_missing_in_the_run_is_named(ours, tmp_path, monkeypatch):
    (tmp_path / "only_here_mod.py").write_text("def twice(x):\n    return 2 * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import only_here_mod

    missing = pytest.raises(ModuleNotFoundError, match="only_here_mod")
    try:
        with missing, joblib.parallel_config("civis"):
            joblib.Parallel(n_jobs=2)(joblib.delayed(only_here_mod.twice)(i) for i in range(2))
    finally:
        sys.modules.pop("only_here_mod", None)


def test_failed_runs_are_retried_with_max_job_retries(client, tmp_path):
    factory = parallel.make_backend_factory(client=client, max_job_retries=1)
    joblib.register_parallel_backend("civis-retry", factory)
    with joblib.parallel_config("civis-retry"):
        out = joblib.Parallel(n_jobs=2)(
            joblib.delayed(_flaky)(str(tmp_path / f"m{i}")) for i in range(2)
        )
    assert out == ["second attempt", "second attempt"]


def test_ctrl_c_cancels_every_run(ours, tmp_path):
    gate = str(tmp_path / "never")
    before = _job_ids(ours)

    def both_running() -> bool:
        runs = [r for j in _job_ids(ours) - before for r in ours.jobs.list_runs(j)]
        return len(runs) == 2 and all(r.state == "running" for r in runs)

    def interrupt_when_running() -> None:
        try:
            wait_until(both_running, "two running runs", interval=0.05)
        finally:  # even when they are not: the test then fails on its own assertion
            _thread.interrupt_main()

    threading.Thread(target=interrupt_when_running, daemon=True).start()
    with pytest.raises(KeyboardInterrupt), joblib.parallel_config("civis"):
        joblib.Parallel(n_jobs=2)(joblib.delayed(_wait_for_gate)(gate) for _ in range(4))
    runs = [r for j in _job_ids(ours) - before for r in ours.jobs.list_runs(j)]
    assert len(runs) == 2 and {r.state for r in runs} == {"cancelled"}


def _register_template_backend(client, backend: str, worker_command: str) -> None:
    """Register ``backend``: batches run as custom scripts of a template running the worker."""
    script = client.scripts.post_containers(
        {"cpu": 256, "memory": 512},
        name=f"{backend} worker",
        docker_command=worker_command,
        docker_image_name="img",
        params=[{"name": "JOBLIB_FUNC_FILE_ID", "type": "integer"}],
    )
    template = client.templates.post_scripts(script.id, f"{backend} template")
    factory = parallel.make_backend_template_factory(template.id, client=client)
    joblib.register_parallel_backend(backend, factory)


def test_a_template_backend_runs_batches_as_custom_scripts(client):
    _register_template_backend(client, "civis-template", "python -m civis_jupyter.parallel_worker")
    with joblib.parallel_config("civis-template"):
        out = joblib.Parallel(n_jobs=2)(joblib.delayed(pow)(i, 2) for i in range(3))
    assert out == [0, 1, 4]


def test_without_joblib_the_factories_name_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "joblib", None)
    with pytest.raises(ImportError, match=r"pip install 'civis-jupyter\[parallel\]'"):
        parallel.make_backend_factory()


def test_bad_n_jobs_is_refused():
    backend = parallel.make_backend_factory(client=object())
    with pytest.raises(ValueError, match="positive number of runs"):
        backend().effective_n_jobs(0)


def test_the_progress_widget_counts_runs_and_falls_back_to_static_html():
    progress = BatchProgress(total=3)
    cancelled = []
    progress.cancel = lambda: cancelled.append(True)
    widget = ParallelProgressWidget(progress)
    for state in ("done", "failed"):
        progress.move(None, "waiting", 1)
        progress.move("waiting", "running")
        progress.move("running", state)
    progress.move(None, "waiting", 1)
    assert (widget.done, widget.failed, widget.waiting, widget.total) == (1, 1, 1, 3)
    widget.cancel()
    assert cancelled == [True]
    progress.finish()
    bundle = widget._repr_mimebundle_()
    assert widget.state == "failed"
    assert "1 done, 0 running, 1 waiting, 1 failed of 3 runs" in bundle["text/plain"]
    assert "civis-parallel-static" in bundle["text/html"]


# -- the official civis.parallel against the embedded platform ---------------------------------


@pytest.fixture
def official(client):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import civis
        import civis.parallel

    official_client = civis.APIClient()
    factory = civis.parallel.make_backend_factory(client=official_client, polling_interval=0.2)
    joblib.register_parallel_backend("civis-official", factory)
    return official_client


def test_official_backend_returns_results(official):
    with joblib.parallel_config("civis-official"):
        out = joblib.Parallel(n_jobs=3)(joblib.delayed(pow)(i, 2) for i in range(3))
    assert out == [0, 1, 4]


def test_official_backend_records_task_errors_and_cancels_the_rest_on_abort(
    official, client, tmp_path
):
    """The official backend never hands a failed task to joblib >= 1.3 (its callback
    runs only on success), so joblib waits until its timeout; the failure is still
    recorded as the run's output, and joblib's abort cancels the other run."""
    gate = str(tmp_path / "never")
    before = _job_ids(client)
    tasks = [joblib.delayed(_fail)("official broke"), joblib.delayed(_wait_for_gate)(gate)]
    with pytest.raises(mp.TimeoutError), joblib.parallel_config("civis-official"):
        joblib.Parallel(n_jobs=2, timeout=10)(tasks)
    new = _job_ids(client) - before

    def ended_runs() -> list:
        runs = [r for j in new for r in client.jobs.list_runs(j)]
        return runs if all(r.state in DONE for r in runs) else []

    runs = wait_until(ended_runs, "the runs to end", timeout=30, interval=0.1)
    assert sorted(r.state for r in runs) == ["cancelled", "failed"]
    failed = next(r for r in runs if r.state == "failed")
    job_id = next(j for j in new if client.jobs.list_runs(j)[0].id == failed.id)
    outputs = client.jobs.list_runs_outputs(job_id, failed.id)
    import cloudpickle

    error = cloudpickle.loads(download_bytes(client, outputs[0].object_id))
    assert isinstance(error, ValueError) and str(error) == "official broke"


def test_official_worker_serves_our_template_backend(client):
    _register_template_backend(client, "civis-official-worker", "civis_joblib_worker")
    with joblib.parallel_config("civis-official-worker"):
        out = joblib.Parallel(n_jobs=2)(joblib.delayed(pow)(i, 2) for i in range(2))
    assert out == [0, 1]


INFER_SCRIPT = """python - <<'PY'
import joblib
from civis_jupyter.parallel import infer_backend_factory

factory = infer_backend_factory(required_resources={"memory": 256}, remote_backend="civis")
joblib.register_parallel_backend("civis", factory)
with joblib.parallel_config("civis"):
    print("RESULT", joblib.Parallel(n_jobs=2)(joblib.delayed(abs)(-i) for i in range(3)))
PY"""


def test_infer_backend_factory_copies_the_running_script(client):
    parent = client.scripts.post_containers(
        {"cpu": 256, "memory": 512},
        name="parent",
        docker_command=INFER_SCRIPT,
        docker_image_name="inferred-image",
        docker_image_tag="v7",
        arguments={"COLOUR": "green"},
    )
    before = _job_ids(client)
    run = client.jobs.post_runs(parent.id)
    from civis_jupyter.futures import CivisFuture

    CivisFuture(client.jobs.get_runs, (parent.id, run.id), client=client).result(120)
    logs = [line.message for line in client.jobs.list_runs_logs(parent.id, run.id)]
    assert "RESULT [0, 1, 2]" in logs
    children = [client.scripts.get_containers(j) for j in _job_ids(client) - before]
    assert len(children) == 3
    for child in children:
        assert (child.docker_image_name, child.docker_image_tag) == ("inferred-image", "v7")
        assert child.required_resources.memory == 256 and child.required_resources.cpu == 256
        assert child.arguments["COLOUR"] == "green"
        assert int(child.arguments["CIVIS_PARENT_JOB_ID"]) == parent.id


def test_infer_backend_factory_outside_a_run_says_so(client, monkeypatch):
    monkeypatch.delenv("CIVIS_JOB_ID", raising=False)
    with pytest.raises(RuntimeError, match="inside a Civis container script run"):
        parallel.infer_backend_factory(client=client)
