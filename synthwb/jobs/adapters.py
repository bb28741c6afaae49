"""One adapter per kind of background job: ``fn(progress, stop_event, **kwargs)`` for
:meth:`synthwb.jobs.registry.JobRegistry.submit`. The pages submit jobs by kind
(``JOB_KINDS.get(kind).obj``); the CLI calls the same engine functions in the foreground.

``progress(fraction, metrics=None, message=None)`` is the registry's callback; ``stop_event``
set means stop at the next step. A job stopped by the user ends as interrupted, not failed.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from synthwb.core.errors import SynthwbError
from synthwb.core.registry import Registry
from synthwb.data.feeds.fetch import fetch as fetch_feeds
from synthwb.data.feeds.fetch import update as update_feeds
from synthwb.evaluate import compare as cmp
from synthwb.evaluate.backtest import BacktestSpec, run_backtest, save_beside_run
from synthwb.research import ablation, ensembles, search
from synthwb.research.backend import check_backend
from synthwb.train.launch import train_on_devices
from synthwb.train.loop import train

JOB_KINDS = Registry("job kind")

Progress = Callable[..., None]


def _stoppable(fn: Callable[[], Any], stop_event: threading.Event) -> Any:
    """``fn()``; an engine error raised because the user pressed Stop ends the job as interrupted."""
    try:
        return fn()
    except SynthwbError:
        if stop_event.is_set():
            return None
        raise


@JOB_KINDS.register("train", help="train a path model (Train page)")
def train_job(progress: Progress, stop_event: threading.Event, devices: int = 1, **kwargs: Any):
    """One process, or ``devices`` > 1 data-parallel processes (DDP) launched from the job."""
    if int(devices) != 1:
        kwargs.pop("leave_one_core", None)
        return train_on_devices(int(devices), progress=progress, stop_event=stop_event, **kwargs)
    kwargs.setdefault("leave_one_core", True)
    return train(progress=progress, stop_event=stop_event, **kwargs)


@JOB_KINDS.register("fetch", help="fetch bars from the validator's feeds, or top fetched series up (Data Explorer)")
def fetch_job(progress: Progress, stop_event: threading.Event, *, update: bool = False, root=None, store=None,
              **kwargs: Any):
    """``fetch(assets, source, freq, since, until)`` or ``update()``; the result's ``status`` says
    finished / failed (with ``error``) / interrupted, and lists what each series gained."""
    if update:
        return update_feeds(root=root, progress=progress, stop_event=stop_event, **kwargs)
    return fetch_feeds(root=root, progress=progress, stop_event=stop_event, **kwargs)


@JOB_KINDS.register("moirai", help="fine-tune Moirai, or save a zero-shot Moirai run (Moirai page)")
def moirai_job(progress: Progress, stop_event: threading.Event, **kwargs: Any):
    from synthwb.moirai.finetune import moirai_train_job  # lazy: uni2ts is slow to import

    return moirai_train_job(progress, stop_event, **kwargs)


@JOB_KINDS.register("backtest", help="a rolling backtest, saved beside its first run (Backtest page)")
def backtest_job(progress: Progress, stop_event: threading.Event, *, spec: BacktestSpec, root=None, store=None):
    result = run_backtest(spec, root=root, store=store, progress=progress, stop_event=stop_event)
    if spec.models and result.status == "finished":
        result.meta["saved"] = str(save_beside_run(result, spec.models[0], store=store))
    return result


@JOB_KINDS.register("compare", help="score runs and baselines on shared origins (Compare page)")
def compare_job(progress: Progress, stop_event: threading.Event, *, request, root=None, store=None):
    return _stoppable(lambda: cmp.compare(request, root=root, store=store, progress=progress,
                                          stop_event=stop_event), stop_event)


@JOB_KINDS.register("ensemble-fit", help="fit ensemble weights on a comparison's origins (Research page)")
def ensemble_fit_job(progress: Progress, stop_event: threading.Event, *, request, members: Sequence[str],
                     root=None, store=None):
    return _stoppable(lambda: ensembles.fit_ensemble(request, members, root=root, store=store, progress=progress,
                                                     stop_event=stop_event), stop_event)


@JOB_KINDS.register("search", help="a hyperparameter search over training runs (Research page)")
def search_job(progress: Progress, stop_event: threading.Event, **kwargs: Any):
    return search.search_runs(progress, stop_event, **kwargs)


@JOB_KINDS.register("ablation", help="one feature-ablation variant (Research page)")
def ablation_job(progress: Progress, stop_event: threading.Event, **kwargs: Any):
    return ablation.train_variant(progress, stop_event, **kwargs)


@JOB_KINDS.register("ablation-ray", help="every feature-ablation variant as Ray Tune trials (Research page)")
def ablation_ray_job(progress: Progress, stop_event: threading.Event, **kwargs: Any):
    return ablation.run_ablation(progress=progress, stop_event=stop_event, backend="ray", **kwargs).rows


def submit_ablation(registry, name: str, featureset, model_spec, config=None, groups: Sequence[str] | None = None,
                    store=None, root=None, context: int | None = None, horizon: int | None = None,
                    backend: str = "local", ray=None) -> list:
    """Local: one "ablation" job per variant, each result one row. Ray: one "ablation-ray" job
    whose result is every variant's row (Ray Tune runs the variants side by side). Collect with
    :func:`ablation_rows`, then :func:`synthwb.research.ablation.ablation_table`."""
    variants = ablation.ablation_plan(featureset, model_spec, config, groups, store, context, horizon)
    common = {"featureset": featureset, "model_spec": model_spec, "config": config, "store": store, "root": root,
              "context": context, "horizon": horizon}
    if backend == "ray":
        return [registry.submit("ablation-ray", f"{name}: {len(variants)} variants on Ray", ablation_ray_job,
                                name=name, groups=variants[1:], ray=ray, **common)]
    check_backend(backend)
    return [registry.submit("ablation", f"{name}: {g}", ablation_job, run_name=name, group=g, **common)
            for g in variants]


def ablation_rows(jobs: Sequence) -> list[dict]:
    """The variant rows of the jobs :func:`submit_ablation` returned: the finished ones', and
    those a running or stopped Ray ablation has reported so far (live)."""
    rows: list[dict] = []
    for j in jobs:
        if j.status == "finished" and j.result:
            rows.extend(j.result if isinstance(j.result, list) else [j.result])
        elif j.kind == "ablation-ray":
            rows.extend(m for m in j.metrics if "group" in m)
    return rows
