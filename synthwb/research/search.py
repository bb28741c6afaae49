"""Hyperparameter search (grid, random, Optuna TPE) and feature ablation over training runs.

A *search space* is a list of :class:`Dim` (:mod:`synthwb.research.space`, re-exported here),
each naming a dotted path into the trial's settings, e.g. ``config.lr`` or ``spec.d_model``,
written ``PATH=LOW:HIGH[:log|:int]`` (a range) or ``PATH=A,B,C`` (choices).

:func:`run_search` drives any objective ``objective(params, number, progress, stop_event) ->
(value, run_id)`` with grid, random or TPE sampling, records every trial (a failing trial is
recorded with its error and the search goes on) and returns a :class:`SearchResult`.
:func:`training_objective` makes the objective that trains one run per trial and returns its
best validation CRPS; with ``keep`` the search deletes all but the best ``keep`` trial runs
when it ends, so the best trials stay in models_store as ordinary runs.

Feature ablation is in :mod:`synthwb.research.ablation`; evaluation of the runs a search
leaves is Backtest's and Compare's (:mod:`synthwb.evaluate`), as neuralforecast keeps
``auto.py`` apart from evaluation.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from synthwb.core.errors import SpecError, SynthwbError, validation_text
from synthwb.core.training import part_progress
from synthwb.features.featureset import resolve_featureset
from synthwb.research.ablation import model_spec_for, trial_config
from synthwb.research.backend import (
    RayOptions,
    absolute_paths,
    check_backend,
    check_cluster,
    in_worker,
)
from synthwb.research.space import (  # noqa: F401  re-exported: the space's public names
    Dim,
    apply_params,
    grid_points,
    parse_dim,
    parse_space,
    random_points,
)
from synthwb.store import delete_run, update_run
from synthwb.train.config import TrainConfig
from synthwb.train.loop import finish_run, prepare, train

__all__ = [
    "Dim",
    "parse_dim",
    "parse_space",
    "grid_points",
    "random_points",
    "apply_params",
    "Trial",
    "SearchResult",
    "run_search",
    "training_objective",
    "METHODS",
    "search_runs",
    "prune_runs",
]

METHODS = ("grid", "random", "tpe")

Objective = Callable[..., "tuple[float, str | None] | float"]


# ------------------------------------------------------------------------------ the driver


@dataclass
class Trial:
    number: int
    params: dict
    value: float | None = None
    status: str = "pending"  # finished | failed | pruned | stopped
    run_id: str | None = None
    error: str | None = None
    seconds: float = 0.0

    def row(self, best: Trial | None) -> dict:
        """This trial's row in the job's live table (the Research page), ``best`` so far."""
        return {"trial": self.number, "value": self.value, "status": self.status,
                "best": best.value if best else None, **self.params, "error": self.error}

    def to_dict(self) -> dict:
        return {"number": self.number, "status": self.status, "value": self.value, "run_id": self.run_id,
                "error": self.error, "seconds": round(self.seconds, 3),
                **{f"param:{k}": v for k, v in self.params.items()}}


@dataclass
class SearchResult:
    method: str
    dims: list[Dim]
    trials: list[Trial] = field(default_factory=list)
    status: str = "finished"
    kept: list[str] = field(default_factory=list)

    @property
    def finished(self) -> list[Trial]:
        return [t for t in self.trials if t.status == "finished" and t.value is not None and math.isfinite(t.value)]

    @property
    def best(self) -> Trial | None:
        done = self.finished
        return min(done, key=lambda t: (t.value, t.number)) if done else None

    def table(self):
        """Trials as a polars frame, best first (failed trials last)."""
        import polars as pl

        rows = [t.to_dict() for t in self.trials]
        if not rows:
            return pl.DataFrame()
        df = pl.DataFrame(rows, infer_schema_length=None)
        return df.sort(["value", "number"], nulls_last=True)

    def to_dict(self) -> dict:
        best = self.best
        return {"method": self.method, "status": self.status, "space": [d.describe() for d in self.dims],
                "best": best.to_dict() if best else None, "kept": self.kept,
                "trials": [t.to_dict() for t in self.trials]}


def _call(objective: Objective, params: dict, number: int, progress, stop_event) -> tuple[float, str | None]:
    out = objective(params, number, progress, stop_event)
    if isinstance(out, tuple):
        value, run_id = out
    else:
        value, run_id = out, None
    return (float("nan") if value is None else float(value)), run_id


def _checked(method: str, space, n_trials) -> tuple[list[Dim], int]:
    """The parsed space and the trial count, or a SpecError naming what is wrong."""
    if method not in METHODS:
        raise SpecError(f"unknown search method {method!r}; use one of {', '.join(METHODS)}")
    dims = parse_space(space)
    n_trials = int(n_trials)
    if n_trials < 1:
        raise SpecError(f"n_trials must be at least 1, got {n_trials}")
    return dims, n_trials


def run_search(
    dims: Sequence[Dim | str],
    objective: Objective,
    method: str = "random",
    n_trials: int = 10,
    seed: int = 0,
    per_dim: int = 3,
    progress: Callable[..., None] | None = None,
    stop_event: threading.Event | None = None,
) -> SearchResult:
    """Minimise ``objective`` over the space. ``grid`` runs every grid point (``n_trials`` caps
    it), ``random`` draws ``n_trials`` points, ``tpe`` asks Optuna's TPE sampler (seeded)."""
    dims, n_trials = _checked(method, dims, n_trials)
    stop_event = stop_event or threading.Event()
    result = SearchResult(method, list(dims))

    def sub_progress(i: int, total: int):
        return part_progress(progress, i, total, f"trial {i + 1}/{total}")

    def run_one(i: int, total: int, params: dict) -> Trial:
        t = Trial(i, dict(params))
        t0 = time.perf_counter()
        try:
            t.value, t.run_id = _call(objective, params, i, sub_progress(i, total), stop_event)
            t.status = "finished" if math.isfinite(t.value) else "failed"
            if not math.isfinite(t.value):
                t.error = "the objective returned no finite value"
            if stop_event.is_set():
                t.status = "stopped"
        except SynthwbError as exc:
            t.status, t.error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - one broken trial must not end the search
            t.status, t.error = "failed", f"{type(exc).__name__}: {exc}"
        t.seconds = time.perf_counter() - t0
        result.trials.append(t)
        if progress is not None:
            progress((i + 1) / total, metrics=t.row(result.best), message=f"trial {i + 1}/{total} {t.status}")
        return t

    if method in ("grid", "random"):
        points = grid_points(dims, per_dim) if method == "grid" else random_points(dims, n_trials, seed)
        points = points[:n_trials]
        for i, params in enumerate(points):
            if stop_event.is_set():
                result.status = "interrupted"
                break
            run_one(i, len(points), params)
        return result

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    for i in range(n_trials):
        if stop_event.is_set():
            result.status = "interrupted"
            break
        ot = study.ask()
        params = {d.path: d.suggest(ot) for d in dims}
        t = run_one(i, n_trials, params)
        if t.status == "finished":
            study.tell(ot, t.value)
        else:
            study.tell(ot, state=optuna.trial.TrialState.FAIL)
    return result


# ------------------------------------------------------------------------------ training glue


def _base_settings(featureset, model_spec, config, store, context=None, horizon=None) -> tuple[Any, dict]:
    fs = resolve_featureset(featureset, store)
    spec = model_spec_for(model_spec, len(fs.feature_cols), store, context, horizon)
    cfg = TrainConfig.parse(config)
    return fs, {"config": trial_config(cfg), "spec": spec.model_dump(mode="json")}


def finish_kept(kept: Sequence[str], config, store=None, root=None, progress=None, stop_event=None) -> None:
    """Calibrate and blend the kept trial runs as the user's settings ask (``calibrate``, ``blend``)."""
    cfg = TrainConfig.parse(config)
    if not cfg.calibrate:
        return
    for i, rid in enumerate(kept):
        if stop_event is not None and stop_event.is_set():
            return
        if progress:
            progress(1.0, message=f"calibrating and blending the kept run {rid} ({i + 1} of {len(kept)})")
        finish_run(rid, store, root, {"calibrate": True, "blend": cfg.blend,
                                      "calibration_windows": cfg.calibration_windows})


def training_objective(name: str, featureset, model_spec, config=None, store=None, metric: str = "val_crps",
                       context: int | None = None, horizon: int | None = None, root=None):
    """An objective that trains run ``<name>-tNNN`` per trial and returns its best ``metric``."""
    fs, base = _base_settings(featureset, model_spec, config, store, context, horizon)

    def objective(params: dict, number: int, progress, stop_event):
        settings = apply_params(base, params)
        info = train(f"{name}-t{number:03d}", fs, settings["spec"], settings["config"], store=store,
                     root=root, progress=progress, stop_event=stop_event)
        update_run(info.run_id, store, search={"name": name, "trial": number, "params": params})
        value = (info.best or {}).get(metric)
        if info.status == "failed":
            raise SynthwbError(info.error or f"trial run {info.run_id} failed")
        return (float("nan") if value is None else float(value)), info.run_id

    return objective


def prune_runs(result: SearchResult, keep: int, store=None) -> list[str]:
    """Delete the trial runs outside the best ``keep``; returns the kept run ids."""
    ranked = sorted(result.finished, key=lambda t: (t.value, t.number))
    kept = [t.run_id for t in ranked[:keep] if t.run_id]
    for t in result.trials:
        if t.run_id and t.run_id not in kept:
            try:
                delete_run(t.run_id, store)
            except SynthwbError:
                pass
            t.run_id = None
    result.kept = kept
    return kept


def preflight(dims: Sequence[Dim], featureset, model_spec, config=None, store=None, *, context=None, horizon=None,
              per_dim: int = 3, seed: int = 0) -> None:
    """Refuse a search that cannot work before any trial trains: a path that names no setting,
    or a dimension whose range ends (or any of whose choices) make a setup train() refuses."""
    if int(per_dim) < 1:
        raise SpecError(f"per_dim (--per-dim) must be at least 1, got {per_dim}")
    if not 0 <= int(seed) <= 2**32 - 1:
        raise SpecError(f"seed must be 0..{2**32 - 1}, got {seed}")
    fs, base = _base_settings(featureset, model_spec, config, store, context, horizon)

    def ends(d: Dim) -> list:
        return list(d.choices) if d.choices else [int(round(v)) if d.integer else v for v in (d.low, d.high)]

    def problem(params: dict) -> str | None:
        """Why train() would refuse the setup with ``params`` applied (spec, config, the task's
        grid, enough rows for context + horizon, the device), or None."""
        try:
            settings = apply_params(base, params)
            prepare(fs, settings["spec"], settings["config"], store)
        except (SynthwbError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            return validation_text(exc.errors()) if callable(getattr(exc, "errors", None)) else str(exc)
        return None

    as_set = problem({})
    for d in dims:  # each end of each dimension, the others at their first end
        others = {o.path: ends(o)[0] for o in dims if o is not d}
        for v in ends(d):
            why = problem({**others, d.path: v})
            if why is None:
                continue
            if why == as_set:  # not the dimension's doing: the settings it starts from
                raise SpecError(f"this search cannot train, whatever its dimensions: {why}; fix the model or "
                                "training settings")
            raise SpecError(f"search dimension {d.path}={v!r} cannot train: {why}; change the search space")


def search_runs(progress, stop_event, *, run_name: str, featureset, model_spec, space: Sequence[str | Dim],
               method: str = "random", n_trials: int = 10, config=None, store=None, seed: int = 0,
               per_dim: int = 3, keep: int | None = 3, context: int | None = None,
               horizon: int | None = None, root=None, backend: str = "local",
               ray: RayOptions | None = None) -> SearchResult:
    """A whole search over training runs (the "search" job and ``synthwb search`` run it);
    trial runs are named ``<run_name>-tNNN``. ``backend="ray"``: the trials run as Ray Tune
    trials (Optuna's sampler for the method through Tune's OptunaSearch; ``ray`` says which
    cluster and each trial's cpus/gpus); their runs land in models_store the same way."""
    check_backend(backend)
    if backend == "ray":  # the cluster answers as Ray and can run a trial: seconds, before any work
        check_cluster(ray or RayOptions())
    # the setup is checked here, before any trial starts (locally or on Ray)
    dims, _ = _checked(method, space, n_trials)
    fs = resolve_featureset(featureset, store)  # read once: the checks and the local trials share it
    preflight(dims, fs, model_spec, config, store, context=context, horizon=horizon, per_dim=per_dim, seed=seed)
    if backend == "ray":
        result = _search_on_ray(space, method, n_trials, seed, per_dim, progress, stop_event, ray,
                                setup={"name": run_name, "featureset": featureset, "model_spec": model_spec,
                                       "config": config, "context": context, "horizon": horizon,
                                       "paths": absolute_paths(store, root)})
    else:
        objective = training_objective(run_name, fs, model_spec, config, store, context=context, horizon=horizon,
                                       root=root)
        result = run_search(space, objective, method, n_trials, seed, per_dim, progress, stop_event)
    failed = [t for t in result.trials if t.status == "failed"]
    if result.trials and len(failed) == len(result.trials):
        raise SynthwbError(f"every trial of search {run_name!r} failed ({len(failed)} of {len(failed)}); the first: "
                           f"{failed[0].error}. Fix the search space or the training settings")
    if keep is not None:
        prune_runs(result, int(keep), store)
    else:
        result.kept = [t.run_id for t in result.finished if t.run_id]
    finish_kept(result.kept, config, store, root, progress, stop_event)
    return result


# ------------------------------------------------------------------------------ on Ray Tune


def _tune_trial(config: dict, setup: dict) -> None:
    """One Ray Tune trial: train run ``<name>-tNNN`` as :func:`training_objective` does and
    report its value (NaN and the error when it failed)."""
    from ray import tune  # lazy: ray is heavy

    from synthwb.research.tune_link import stop_relay  # lazy: it imports Ray

    in_worker(setup["paths"])
    number = int(config["_number"])
    params = {k: v for k, v in config.items() if k != "_number"}
    t0 = time.perf_counter()
    value, run_id, error, status = float("nan"), None, "", "stopped"
    with stop_relay(setup.get("stop")) as stop_event:
        if not stop_event.is_set():  # a trial that begins after the job's Stop does not train
            try:
                objective = training_objective(setup["name"], setup["featureset"], setup["model_spec"],
                                               setup["config"], setup["paths"]["store"], context=setup["context"],
                                               horizon=setup["horizon"], root=setup["paths"]["root"])
                value, run_id = _call(objective, params, number, None, stop_event)
                if not math.isfinite(value):
                    error = "the objective returned no finite value"
            except SynthwbError as exc:
                error = str(exc)
            except Exception as exc:  # noqa: BLE001 - one broken trial must not end the search
                error = f"{type(exc).__name__}: {exc}"
            status = "stopped" if stop_event.is_set() else ("failed" if error else "finished")
    tune.report({"value": value, "run_id": run_id or "", "error": error, "number": number, "status": status,
                 "seconds": time.perf_counter() - t0})


@dataclass(frozen=True)
class _DefineByRun:
    """Optuna's define-by-run space for Tune's OptunaSearch: every dimension suggested by the
    trial (as the local TPE search does), plus the trial's number for the run name."""

    dims: tuple[Dim, ...]

    def __call__(self, trial) -> dict:
        for d in self.dims:
            d.suggest(trial)
        return {"_number": trial.number}


def _sampler(method: str, dims: Sequence[Dim], seed: int, per_dim: int):
    import optuna  # lazy: slow to import, only TPE and Ray searches need it

    if method == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.GridSampler({d.path: d.grid(per_dim) for d in dims}, seed=seed)


def _search_on_ray(space, method: str, n_trials: int, seed: int, per_dim: int, progress, stop_event,
                   options: RayOptions | None, setup: dict) -> SearchResult:
    dims, n_trials = _checked(method, space, n_trials)
    if method == "grid":
        n_trials = min(n_trials, len(grid_points(dims, per_dim)))
    result = SearchResult(method, list(dims))
    if stop_event is not None and stop_event.is_set():
        result.status = "interrupted"
        return result
    from ray import tune  # lazy: ray is heavy
    from ray.tune.search.optuna import OptunaSearch  # lazy: ray is heavy

    from synthwb.research.tune_link import run_tune  # lazy: it imports Ray

    def on_result(cfg: dict, m: dict) -> None:  # each trial as it reports, as local trials report theirs
        if _never_began(m):
            return  # the job was stopped first: a local search lists no such trial either
        t = _ray_trial(cfg, m)
        result.trials.append(t)
        if progress is not None:
            progress(len(result.trials) / n_trials, metrics=t.row(result.best),
                     message=f"trial {len(result.trials)}/{n_trials} {t.status} (Ray)")

    alg = OptunaSearch(space=_DefineByRun(tuple(dims)), metric="value", mode="min", sampler=_sampler(method, dims, seed, per_dim))
    grid, link = run_tune(f"{setup['name']}-search", _tune_trial, setup, options, stop_event, on_result,
                          tune_config=tune.TuneConfig(search_alg=alg, num_samples=n_trials))
    reported = {t.number for t in result.trials}
    for r in grid:  # a trial whose worker died before it could report
        cfg = r.config or {}
        if r.error and int(cfg.get("_number", -1)) not in reported:
            t = _ray_trial(cfg, {})
            t.status, t.error = "failed", f"{type(r.error).__name__}: {r.error}"
            result.trials.append(t)
    result.trials.sort(key=lambda t: t.number)
    if link.stopped:
        result.status = "interrupted"
    return result


def _never_began(m: dict) -> bool:
    """A Tune trial that reported nothing, or reported "stopped" without a run."""
    return not m or (m.get("status") == "stopped" and not m.get("run_id"))


def _ray_trial(cfg: dict, m: dict) -> Trial:
    """A :class:`Trial` from a Tune trial's config and its report (:func:`_tune_trial`)."""
    params = {k: v for k, v in cfg.items() if k != "_number"}
    t = Trial(int(cfg.get("_number", m.get("number", -1))), params)
    value = m.get("value")
    t.value = None if value is None else float(value)
    t.run_id = m.get("run_id") or None
    t.error = m.get("error") or None
    t.seconds = float(m.get("seconds") or 0.0)
    finite = t.value is not None and math.isfinite(t.value)
    t.status = "stopped" if m.get("status") == "stopped" else ("finished" if finite and not t.error else "failed")
    return t
