"""JobRegistry: real threads, bounded concurrency, cooperative stop, failure isolation."""
from __future__ import annotations

import sys
import threading
import time

import pytest
from train_support import wait_until

from synthwb.core.errors import NotFound
from synthwb.jobs.registry import JobRegistry, get_registry


def counting_job(progress, stop_event, n=5, gate=None, tag="a"):
    for i in range(n):
        if gate is not None:
            gate.wait(5)
        if stop_event.is_set():
            return {"done": i}
        progress((i + 1) / n, {"i": i, "tag": tag})
    return {"done": n, "tag": tag}


def test_job_finishes_with_result_history_and_progress():
    reg = JobRegistry(max_running=2)
    job = reg.submit("test", "count", counting_job, n=4, tag="x")
    assert job.wait(10)
    assert job.status == "finished"
    assert job.result == {"done": 4, "tag": "x"}
    assert job.progress == 1.0
    assert [m["i"] for m in job.metrics] == [0, 1, 2, 3]
    assert job.started is not None and job.ended is not None and job.ended >= job.started
    # history is a copy: mutating it does not change the job
    h = job.metrics
    h.clear()
    assert len(job.metrics) == 4
    assert job.metrics_since(2) == [{"i": 2, "tag": "x"}, {"i": 3, "tag": "x"}]


def test_bounded_concurrency_queues_the_rest():
    reg = JobRegistry(max_running=2)
    gate = threading.Event()
    jobs = [reg.submit("test", f"j{i}", counting_job, n=1, gate=gate) for i in range(4)]
    assert wait_until(lambda: sum(j.status == "running" for j in jobs) == 2)
    time.sleep(0.1)
    assert [j.status for j in jobs] == ["running", "running", "queued", "queued"]
    assert jobs[2].eta is None  # queued: no ETA
    gate.set()
    assert reg.wait_all(10)
    assert all(j.status == "finished" for j in jobs)
    # FIFO: queued jobs start after the first ones
    assert jobs[2].started >= jobs[0].started and jobs[3].started >= jobs[1].started


def test_failure_is_isolated_and_keeps_traceback():
    reg = JobRegistry(max_running=2)
    gate = threading.Event()

    def boom(progress, stop_event):
        progress(0.5, {"loss": 1.0})
        raise RuntimeError("kaboom in thread")

    good = reg.submit("test", "good", counting_job, n=3, gate=gate, tag="good")
    bad = reg.submit("test", "bad", boom)
    assert bad.wait(10)
    assert bad.status == "failed"
    assert bad.error == "RuntimeError: kaboom in thread"
    assert "Traceback" in bad.traceback and "kaboom in thread" in bad.traceback and "boom" in bad.traceback
    assert bad.metrics == [{"loss": 1.0}]
    assert good.status == "running"  # untouched by the failure
    gate.set()
    assert good.wait(10) and good.status == "finished"
    assert all(m["tag"] == "good" for m in good.metrics)


def test_stop_running_and_queued_jobs():
    reg = JobRegistry(max_running=1)
    started = threading.Event()

    def loop(progress, stop_event):
        started.set()
        i = 0
        while not stop_event.is_set():
            i += 1
            progress(None, {"i": i})
            time.sleep(0.005)
        return {"iterations": i}

    running = reg.submit("test", "loop", loop)
    queued = reg.submit("test", "later", loop)
    assert started.wait(5)
    queued.stop()
    assert queued.status == "interrupted" and queued.started is None
    running.stop()
    assert running.status in ("stopping", "interrupted")
    assert running.wait(10)
    assert running.status == "interrupted"
    assert running.result["iterations"] >= 1
    time.sleep(0.05)
    assert queued.started is None  # a cancelled queued job never runs


def test_result_status_overrides_and_lookup():
    reg = JobRegistry()

    class R:
        status = "failed"
        error = "too many NaN steps"

    job = reg.submit("train", "r", lambda progress, stop_event: R())
    assert job.wait(10)
    assert job.status == "failed" and job.error == "too many NaN steps"
    assert reg.get(job.id) is job
    assert reg.jobs("train") == [job] and reg.jobs("backtest") == []
    with pytest.raises(NotFound, match="no job"):
        reg.get("nope")
    reg.forget(job.id)
    assert reg.find(job.id) is None


def test_eta_extrapolates_from_progress_and_counts_down_while_nothing_advances():
    reg = JobRegistry()
    gate = threading.Event()

    def half(progress, stop_event):
        time.sleep(0.4)
        progress(0.5)  # half done after 0.4 s: 0.8 s in all, 0.4 s left
        gate.wait(5)

    job = reg.submit("test", "eta", half)
    assert wait_until(lambda: job.progress == 0.5)
    t0 = time.perf_counter()
    first = job.eta
    assert first is not None and 0.25 < first < 0.55  # about 0.4 s left
    time.sleep(0.2)  # a pause (e.g. a validation pass): the ETA counts down, it never grows
    second, waited = job.eta, time.perf_counter() - t0
    assert second == pytest.approx(first - waited, abs=0.03)
    time.sleep(0.6)
    assert job.eta == 0.0  # overdue: 0, never negative
    gate.set()
    job.wait(5)
    assert job.eta is None


def test_eta_leaves_out_what_the_job_does_once_before_its_first_advance():
    """A training run's setup and its untrained-model validation come before step 1: the rate is
    the progress made since then, not since the start (issue 24: an ETA twice the run at start)."""
    reg = JobRegistry()
    gate = threading.Event()

    def run(progress, stop_event):
        time.sleep(0.6)  # setup, once
        progress(0.1)
        time.sleep(0.1)  # then 0.1 s per tenth: 0.8 s left
        progress(0.2)
        gate.wait(5)

    job = reg.submit("test", "eta-start", run)
    assert wait_until(lambda: job.progress == 0.2)
    eta = job.eta
    assert eta is not None and 0.5 < eta < 2.0  # about 0.8 s; from the start: 0.7 / 0.2 - 0.7 = 2.8 s
    gate.set()
    job.wait(5)


def test_module_singleton():
    assert get_registry() is get_registry()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are a Linux feature")
def test_worker_threads_run_nicer_than_the_app():
    import os

    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    reg = JobRegistry(nice=3)
    job = reg.submit("test", "nice", lambda progress, stop_event: os.getpriority(
        os.PRIO_PROCESS, threading.get_native_id()))
    assert job.wait(10) and job.result == min(base + 3, 19)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base  # the caller is untouched
