"""Train page helpers: how a training job is described (one step count, one label, its run)."""
from __future__ import annotations

import re

from synthwb.core.errors import SynthwbError
from synthwb.jobs.registry import ACTIVE
from synthwb.store import runs

STATUS_ICON = {"queued": ":material/schedule:", "running": ":material/autorenew:", "stopping": ":material/pending:",
               "finished": ":material/check_circle:", "failed": ":material/error:",
               "interrupted": ":material/pause_circle:"}


def fmt_s(sec: float | None) -> str:
    if sec is None:
        return "?"
    sec = int(sec)
    return f"{sec // 3600}h{sec % 3600 // 60:02d}m" if sec >= 3600 else f"{sec // 60}m{sec % 60:02d}s"


def job_history(job, store: str) -> list[dict]:
    """The job's metric rows; a resumed run's curves include the rows from before the resume."""
    if job.kwargs.get("resume"):
        try:
            return runs.read_metrics(job.kwargs["name"], store)
        except SynthwbError:
            pass
    return job.metrics


def run_of(job) -> str | None:
    """The run id a training job writes to (its metric rows carry it; the result once done)."""
    if job.result is not None and getattr(job.result, "run_id", None):
        return job.result.run_id
    rows = job.metrics
    return rows[-1].get("run_id") if rows else (job.kwargs.get("name") if job.kwargs.get("resume") else None)


_STEP = re.compile(r"step (\d+)/(\d+)")


def job_task(job) -> str | None:
    """The task a training job trains for (its config's ``synth_task``)."""
    cfg = job.kwargs.get("config")
    task = cfg.get("synth_task") if isinstance(cfg, dict) else getattr(cfg, "synth_task", None)
    return task if isinstance(task, str) else None


def job_step(job) -> tuple[int, int | None]:
    """The one step count the page shows for a job (header, tile, Jobs and Saved-runs tables):
    the loop's own "step N/M" while it runs, the run's final step once it has ended."""
    m = _STEP.search(job.message or "")
    total = int(m.group(2)) if m else None
    if job.done and job.result is not None and getattr(job.result, "step", None) is not None:
        return int(job.result.step), total
    if m:
        return int(m.group(1)), total
    steps = [r["step"] for r in job.metrics if r.get("kind") == "train"]
    return (steps[-1] if steps else 0), total


def job_text(job) -> str:
    """The job's status line: the loop's message while it runs; once it has ended, how it ended
    (a stopped job does not keep saying "validating 3/4")."""
    if job.status in ACTIVE:
        return job.message or job.status
    step, total = job_step(job)
    reason = getattr(job.result, "stop_reason", None) if job.result is not None else None
    where = f" at step {step}" + (f"/{total}" if total else "") if job.kind == "train" or step else ""
    return f"{job.status}{where}" + (f" ({reason})" if reason else "")


def job_run(job) -> str:
    """The run a job writes to, as it is saved (``...-2`` when its name was taken)."""
    return run_of(job) or f"{job.name} (starting)"


def job_label(job) -> str:
    task = job_task(job)
    return f"{job_run(job)}" + (f" · {task} task" if task else "") + f" · {job.status}"
