"""Background jobs: a process-wide registry of worker threads with bounded concurrency.

A job runs ``fn(progress_cb, stop_event, **kwargs)`` in its own thread. ``progress_cb`` takes
``(fraction, metrics=None, message=None)``: the fraction in [0, 1] drives the progress bar and
the ETA, a metrics dict is appended to the job's thread-safe history. ``stop_event`` is a
``threading.Event`` the function checks cooperatively; ``Job.stop()`` sets it. The function's
return value becomes ``Job.result``; an exception makes the job ``failed`` with the error and
the full traceback, without touching any other job. If the function returns normally after a
stop was requested the job is ``interrupted`` (unless the function's result says otherwise
via a ``status`` attribute or key).

The registry outlives Streamlit reruns: pages hold ``get_registry()`` (a module singleton)
through ``st.cache_resource``; the worker threads never call streamlit.
"""
from __future__ import annotations

import itertools
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from synthwb.core.errors import NotFound
from synthwb.store.runs import ACTIVE  # one set of statuses for jobs and runs

DONE = ("finished", "failed", "interrupted")

ProgressCb = Callable[..., None]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(eq=False)
class Job:
    """One background task. Read fields freely; they are updated under the job's lock."""

    id: str
    kind: str
    name: str
    fn: Callable[..., Any] = field(repr=False)
    kwargs: dict = field(default_factory=dict, repr=False)
    status: str = "queued"
    progress: float = 0.0
    message: str = ""
    error: str | None = None
    traceback: str | None = None
    result: Any = None
    created: datetime = field(default_factory=_now)
    started: datetime | None = None
    ended: datetime | None = None
    stop_event: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _history: list = field(default_factory=list, repr=False)
    _advanced_at: float = field(default=0.0, repr=False)  # elapsed seconds when progress last changed
    _first_at: float | None = field(default=None, repr=False)  # elapsed seconds and progress at the
    _first_progress: float = field(default=0.0, repr=False)    # first advance (the fixed start ends there)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    # -- reading ------------------------------------------------------------------------
    @property
    def metrics(self) -> list[dict]:
        """A copy of the metrics history (safe to use while the job appends)."""
        with self._lock:
            return [dict(m) for m in self._history]

    def metrics_since(self, n: int) -> list[dict]:
        """History entries from index ``n`` on (for incremental polling)."""
        with self._lock:
            return [dict(m) for m in self._history[n:]]

    @property
    def done(self) -> bool:
        return self.status in DONE

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return ((self.ended or _now()) - self.started).total_seconds()

    @property
    def eta(self) -> float | None:
        """Seconds left: the end the progress projected when it last advanced, minus the time
        elapsed. The rate is the progress made since the first advance, so what a job does once
        before it (loading data, building a model, validating the untrained model) is not
        extrapolated as if every step paid it; until a second advance, the rate since the start.
        While nothing advances (a validation pass, a slow first batch) it counts down instead of
        growing; None when unknown."""
        if self.status != "running" or self.progress <= 0.0 or self.started is None:
            return None
        p, first = self.progress, self._first_at
        if first is not None and p > self._first_progress and self._advanced_at > first:
            per_unit = (self._advanced_at - first) / (p - self._first_progress)
        else:
            per_unit = self._advanced_at / p
        return max(self._advanced_at + (1.0 - p) * per_unit - self.elapsed, 0.0)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends; True if it did within ``timeout``."""
        return self._done.wait(timeout)

    def summary(self) -> dict:
        return {
            "id": self.id, "kind": self.kind, "name": self.name, "status": self.status,
            "progress": round(self.progress, 4), "message": self.message, "error": self.error,
            "eta_s": None if self.eta is None else round(self.eta, 1),
            "created": self.created.isoformat(), "started": self.started and self.started.isoformat(),
            "ended": self.ended and self.ended.isoformat(), "elapsed_s": round(self.elapsed, 1),
        }

    # -- control ------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the job to stop; a queued job is cancelled (interrupted) without starting."""
        self.stop_event.set()
        with self._lock:
            if self.status == "running":
                self.status = "stopping"
            elif self.status == "queued":
                self.status = "interrupted"
                self.ended = _now()
                self._done.set()

    # -- called from the worker thread --------------------------------------------------
    def _progress(self, fraction: float | None = None, metrics: dict | None = None,
                  message: str | None = None) -> None:
        with self._lock:
            if fraction is not None:
                fraction = min(max(float(fraction), 0.0), 1.0)
                if fraction != self.progress:
                    self._advanced_at = self.elapsed
                    if self._first_at is None and fraction > 0.0:
                        self._first_at, self._first_progress = self._advanced_at, fraction
                self.progress = fraction
            if metrics:
                self._history.append(dict(metrics))
            if message is not None:
                self.message = str(message)


class JobRegistry:
    """Submit jobs; at most ``max_running`` run at once, the rest wait in FIFO order."""

    def __init__(self, max_running: int = 2, nice: int = 5):
        if max_running < 1:
            raise ValueError("max_running must be at least 1")
        self.max_running = max_running
        #: worker threads run this much "nicer" than the app (Linux: per-thread priority), so
        #: pages stay responsive while jobs compute on the CPU; 0 leaves priorities alone
        self.nice = nice
        self._jobs: dict[str, Job] = {}
        self._lock = threading.RLock()
        self._counter = itertools.count(1)

    def submit(self, kind: str, name: str, fn: Callable[..., Any], /, **kwargs: Any) -> Job:
        job_id = f"{kind}-{next(self._counter)}-{uuid.uuid4().hex[:6]}"
        job = Job(id=job_id, kind=kind, name=name, fn=fn, kwargs=kwargs)
        with self._lock:
            self._jobs[job_id] = job
        self._schedule()
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r} in this process (jobs do not survive an app restart)")
        return job

    def find(self, job_id: str | None) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id) if job_id else None

    def jobs(self, kind: str | None = None) -> list[Job]:
        """All jobs, newest first."""
        with self._lock:
            out = [j for j in self._jobs.values() if kind is None or j.kind == kind]
        return sorted(out, key=lambda j: j.created, reverse=True)

    def active(self, kind: str | None = None) -> list[Job]:
        return [j for j in self.jobs(kind) if j.status in ACTIVE]

    def stop(self, job_id: str) -> None:
        self.get(job_id).stop()
        self._schedule()

    def forget(self, job_id: str) -> None:
        """Drop a finished job from the list (an active one must be stopped first)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and job.status not in ACTIVE:
                del self._jobs[job_id]

    def wait_all(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for job in list(self.jobs()):
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            if not job.wait(left):
                return False
        return True

    # -- scheduling ---------------------------------------------------------------------
    def _schedule(self) -> None:
        with self._lock:
            running = sum(1 for j in self._jobs.values() if j.status in ("running", "stopping"))
            queued = sorted((j for j in self._jobs.values() if j.status == "queued"), key=lambda j: j.created)
            for job in queued[: max(self.max_running - running, 0)]:
                with job._lock:
                    job.status = "running"
                    job.started = _now()
                t = threading.Thread(target=self._run, args=(job,), name=f"synthwb-{job.id}", daemon=True)
                job._thread = t
                t.start()

    def _lower_priority(self) -> None:
        if self.nice <= 0 or not sys.platform.startswith("linux"):
            return
        try:  # on Linux a thread id names one thread for setpriority
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(os.getpriority(os.PRIO_PROCESS, tid) + self.nice, 19))
        except (AttributeError, OSError):
            pass

    def _run(self, job: Job) -> None:
        self._lower_priority()
        try:
            result = job.fn(job._progress, job.stop_event, **job.kwargs)
        except BaseException as exc:  # noqa: BLE001 - a job's failure must never escape its thread
            with job._lock:
                job.status = "failed"
                job.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                job.traceback = traceback.format_exc()
                job.ended = _now()
        else:
            status = getattr(result, "status", None)
            if status is None and isinstance(result, dict):
                status = result.get("status")
            with job._lock:
                job.result = result
                if status in ("failed", "interrupted", "finished"):
                    job.status = status
                else:
                    job.status = "interrupted" if job.stop_event.is_set() else "finished"
                if job.status == "finished":
                    job.progress = 1.0
                if job.status == "failed":
                    job.error = getattr(result, "error", None) or (result.get("error") if isinstance(result, dict) else None)
                job.ended = _now()
        finally:
            job._done.set()
            self._schedule()


_REGISTRY: JobRegistry | None = None
_REGISTRY_LOCK = threading.Lock()


def get_registry(max_running: int = 2) -> JobRegistry:
    """The process-wide registry (created on first use)."""
    global _REGISTRY
    with _REGISTRY_LOCK:
        if _REGISTRY is None:
            _REGISTRY = JobRegistry(max_running=max_running)
        return _REGISTRY
