"""Hyperparameter search (grid, random, Optuna TPE) and feature ablation over training runs.

A *search space* is a list of :class:`Dim`, each naming a dotted path into the trial's
settings ``{"config": <TrainConfig dict>, "spec": <ModelSpec dict>}``, e.g. ``config.lr``,
``config.batch_size``, ``spec.d_model`` or ``spec.blocks.0.params.kernel``. A dimension is
written on the command line or in the page as ``PATH=LOW:HIGH[:log|:int]`` (a range) or
``PATH=A,B,C`` (choices).

:func:`run_search` drives any objective ``objective(params, number, progress, stop_event) ->
(value, run_id)`` with grid, random or TPE sampling, records every trial (a failing trial is
recorded with its error and the search goes on) and returns a :class:`SearchResult`.
:func:`training_objective` makes the objective that trains one run per trial and returns its
best validation CRPS; with ``keep`` the search deletes all but the best ``keep`` trial runs
when it ends, so the best trials stay in models_store as ordinary runs.

Feature ablation (:func:`run_ablation`) retrains the same model with one feature group (a
feature-registry category) removed at a time and reports the change in validation CRPS per
group against the full feature set: a positive change means the group helped.
"""
from __future__ import annotations

import copy
import itertools
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from synthwb.core.errors import SpecError, SynthwbError
from synthwb.train.config import TrainConfig
from synthwb.train.loop import resolve_featureset
from synthwb.store import update_run
from synthwb.train.loop import train
from synthwb.store import delete_run
from synthwb.features.registry import FeatureSpec
from synthwb.features.registry import FEATURES
from synthwb import models
from synthwb.features.featureset import create_featureset
from synthwb.core.io import slugify

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
    "feature_groups",
    "ablation_specs",
    "AblationResult",
    "ablation_table",
    "ablation_groups",
    "ablation_job",
    "run_ablation",
    "submit_ablation",
    "search_job",
    "prune_runs",
    "FULL",
]

METHODS = ("grid", "random", "tpe")

Objective = Callable[..., "tuple[float, str | None] | float"]


# ------------------------------------------------------------------------------ the space


@dataclass(frozen=True)
class Dim:
    """One searched setting: a numeric range (``low``..``high``, optionally log / int) or choices."""

    path: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple = ()

    def __post_init__(self) -> None:
        if not self.path or not all(self.path.split(".")) or self.path.split(".")[0] not in ("config", "spec"):
            raise SpecError(f"search dimension {self.path!r}: the path must start with 'config.' or 'spec.'")
        if self.choices:
            object.__setattr__(self, "choices", tuple(self.choices))
            return
        if self.low is None or self.high is None:
            raise SpecError(f"search dimension {self.path!r}: give a range LOW:HIGH or choices A,B,C")
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
            raise SpecError(f"search dimension {self.path!r}: low {self.low} must not exceed high {self.high}")
        if self.log and self.low <= 0:
            raise SpecError(f"search dimension {self.path!r}: a log range needs low > 0")

    @property
    def kind(self) -> str:
        return "categorical" if self.choices else ("int" if self.integer else "float")

    def grid(self, n: int) -> list:
        """``n`` evenly spaced values (log-spaced for log ranges); all choices for categoricals."""
        if self.choices:
            return list(self.choices)
        n = max(1, int(n))
        if n == 1 or self.low == self.high:
            vals = [self.low]
        elif self.log:
            vals = np.geomspace(self.low, self.high, n).tolist()
        else:
            vals = np.linspace(self.low, self.high, n).tolist()
        if self.integer:
            vals = list(dict.fromkeys(int(round(v)) for v in vals))
        return [float(v) if not self.integer else v for v in vals]

    def sample(self, rng: np.random.Generator):
        if self.choices:
            return self.choices[int(rng.integers(len(self.choices)))]
        if self.log:
            v = float(np.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        else:
            v = float(rng.uniform(self.low, self.high))
        return int(round(v)) if self.integer else v

    def suggest(self, trial) -> Any:
        """The value for an Optuna trial."""
        if self.choices:
            return trial.suggest_categorical(self.path, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.path, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.path, float(self.low), float(self.high), log=self.log)

    def describe(self) -> str:
        if self.choices:
            return f"{self.path}={','.join(str(c) for c in self.choices)}"
        tags = (":log" if self.log else "") + (":int" if self.integer else "")
        return f"{self.path}={self.low:g}:{self.high:g}{tags}"


def _scalar(text: str):
    t = text.strip()
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    for cast in (int, float):
        try:
            return cast(t)
        except ValueError:
            pass
    return t


def parse_dim(text: str) -> Dim:
    """``config.lr=1e-4:1e-2:log``, ``config.batch_size=16:128:int``, ``spec.d_model=32,64``."""
    if "=" not in str(text):
        raise SpecError(f"search dimension {text!r}: write PATH=LOW:HIGH[:log|:int] or PATH=A,B,C")
    path, _, rhs = str(text).partition("=")
    path, rhs = path.strip(), rhs.strip()
    if not rhs:
        raise SpecError(f"search dimension {text!r}: no values after '='")
    if ":" in rhs:
        parts = rhs.split(":")
        tags = {p.strip().lower() for p in parts[2:]}
        unknown = tags - {"log", "int"}
        if unknown:
            raise SpecError(f"search dimension {text!r}: unknown tag(s) {sorted(unknown)}; use log or int")
        try:
            low, high = float(parts[0]), float(parts[1])
        except ValueError:
            raise SpecError(f"search dimension {text!r}: LOW and HIGH must be numbers") from None
        return Dim(path, low, high, log="log" in tags, integer="int" in tags)
    return Dim(path, choices=tuple(_scalar(c) for c in rhs.split(",") if c.strip()))


def parse_space(items: Sequence[str | Dim]) -> list[Dim]:
    dims = [d if isinstance(d, Dim) else parse_dim(d) for d in items]
    if not dims:
        raise SpecError("the search space is empty: give at least one dimension")
    paths = [d.path for d in dims]
    if len(set(paths)) != len(paths):
        raise SpecError(f"the search space names a setting twice: {paths}")
    return dims


def grid_points(dims: Sequence[Dim], per_dim: int = 3) -> list[dict]:
    """The full grid: every combination of each dimension's :meth:`Dim.grid` values."""
    axes = [d.grid(per_dim) for d in dims]
    return [dict(zip((d.path for d in dims), combo)) for combo in itertools.product(*axes)]


def random_points(dims: Sequence[Dim], n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{d.path: d.sample(rng) for d in dims} for _ in range(int(n))]


def apply_params(base: dict, params: dict) -> dict:
    """A deep copy of ``base`` with each dotted path set; a path must name an existing key."""
    out = copy.deepcopy(base)
    for path, value in params.items():
        parts = path.split(".")
        node: Any = out
        for i, key in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                try:
                    idx = int(key)
                    node[idx]
                except (ValueError, IndexError):
                    raise SpecError(f"search setting {path!r}: {key!r} is not an index of a list of {len(node)}") from None
                if last:
                    node[idx] = value
                else:
                    node = node[idx]
            elif isinstance(node, dict):
                if key not in node:
                    have = ", ".join(sorted(map(str, node))[:20])
                    raise SpecError(f"search setting {path!r}: no key {key!r} (have: {have})")
                if last:
                    node[key] = value
                else:
                    node = node[key]
            else:
                raise SpecError(f"search setting {path!r}: {'.'.join(parts[:i])!r} is not a mapping or list")
    return out


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
    if method not in METHODS:
        raise SpecError(f"unknown search method {method!r}; use one of {', '.join(METHODS)}")
    dims = parse_space(dims)
    n_trials = int(n_trials)
    if n_trials < 1:
        raise SpecError(f"n_trials must be at least 1, got {n_trials}")
    stop_event = stop_event or threading.Event()
    result = SearchResult(method, list(dims))

    def sub_progress(i: int, total: int):
        def cb(fraction=None, metrics=None, message=None):
            if progress is None:
                return
            frac = None if fraction is None else (i + min(max(float(fraction), 0.0), 1.0)) / total
            progress(frac, metrics=metrics, message=f"trial {i + 1}/{total}" + (f": {message}" if message else ""))
        return cb

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
            best = result.best
            progress((i + 1) / total, metrics={"trial": i, "value": t.value, "status": t.status,
                                               "best": best.value if best else None, **params},
                     message=f"trial {i + 1}/{total} {t.status}")
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
    spec = _model_spec_for(model_spec, len(fs.feature_cols), store, context, horizon)
    cfg = TrainConfig.parse(config)
    return fs, {"config": cfg.model_dump(mode="json"), "spec": spec.model_dump(mode="json")}


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


def search_job(progress, stop_event, *, run_name: str, featureset, model_spec, space: Sequence[str | Dim],
               method: str = "random", n_trials: int = 10, config=None, store=None, seed: int = 0,
               per_dim: int = 3, keep: int | None = 3, context: int | None = None,
               horizon: int | None = None, root=None) -> SearchResult:
    """The whole search as one background job: ``registry.submit("search", label, search_job,
    run_name=..., ...)``; trial runs are named ``<run_name>-tNNN``."""
    objective = training_objective(run_name, featureset, model_spec, config, store, context=context, horizon=horizon,
                                   root=root)
    result = run_search(space, objective, method, n_trials, seed, per_dim, progress, stop_event)
    if keep is not None:
        prune_runs(result, int(keep), store)
    else:
        result.kept = [t.run_id for t in result.finished if t.run_id]
    return result


# ------------------------------------------------------------------------------ ablation


def _feature_spec(spec_or_fs):
    if isinstance(spec_or_fs, FeatureSpec):
        return spec_or_fs
    if isinstance(spec_or_fs, dict):
        return FeatureSpec.from_dict(spec_or_fs)
    inner = getattr(spec_or_fs, "spec", None)
    if isinstance(inner, FeatureSpec):
        return inner
    raise SpecError(f"expected a feature spec or feature set, got {type(spec_or_fs).__name__}")


def feature_groups(spec) -> dict[str, list[str]]:
    """The spec's features by registry category (the ablation groups), in spec order."""
    fspec = _feature_spec(spec)
    groups: dict[str, list[str]] = {}
    for it in fspec.features:
        groups.setdefault(FEATURES.get(it.name).category or "other", []).append(it.name)
    return groups


def ablation_specs(spec, groups: Sequence[str] | None = None) -> dict[str, Any]:
    """``{group: FeatureSpec without that group}`` for each group (default: every group).

    Reference symbols are dropped when no remaining feature needs them. A group whose removal
    leaves the model with no input at all is refused with a message."""
    fspec = _feature_spec(spec)
    have = feature_groups(fspec)
    groups = list(groups) if groups else list(have)
    unknown = [g for g in groups if g not in have]
    if unknown:
        raise SpecError(f"feature group(s) {unknown} are not in this feature set; groups: {list(have)}")
    out = {}
    for g in groups:
        keep = [it for it in fspec.features if (FEATURES.get(it.name).category or "other") != g]
        if not keep and not fspec.include_ohlcv:
            raise SpecError(f"removing group {g!r} leaves no model input (no features and include_ohlcv off)")
        d = fspec.to_dict()
        d["features"] = [it.to_dict() for it in keep]
        if not any(FEATURES.get(it.name).meta.get("refs") for it in keep):
            d["references"] = []
        out[g] = FeatureSpec.from_dict(d)
    return out


FULL = "(all features)"


def _model_spec_for(model_spec, n_features: int, store=None, context: int | None = None,
                    horizon: int | None = None):
    """The model spec resized to ``n_features`` inputs (the input projection is the only change)."""
    if isinstance(model_spec, str) and model_spec in models.preset_names():
        kw = {k: v for k, v in (("context", context), ("horizon", horizon)) if v is not None}
        return models.get_preset(model_spec, n_features=n_features, **kw)
    if isinstance(model_spec, models.ModelSpec):
        spec = model_spec
    elif isinstance(model_spec, dict):
        spec = models.ModelSpec.from_dict(model_spec)
    elif isinstance(model_spec, str):
        spec = models.load_spec(model_spec, store)
    else:
        raise SpecError(f"model_spec must be a ModelSpec, dict, preset or saved spec name, not {type(model_spec).__name__}")
    sizes = {"n_features": int(n_features)}
    if context is not None:
        sizes["context"] = int(context)
    if horizon is not None:
        sizes["horizon"] = int(horizon)
    return spec.with_sizes(**sizes)


def _variant(fs, group: str, fspec, root=None):
    """The feature set ``fs`` rebuilt without ``group`` (same selection, split and scaling)."""
    if group == FULL:
        return fs
    keep_cols = [c for c in fs.feature_cols if c in set(fspec.model_columns())]
    if not keep_cols:
        raise SpecError(f"removing group {group!r} leaves the feature set {fs.name!r} with no columns")
    name = slugify(f"{fs.name}-no-{group}")[:80] or "ablation"
    return create_featureset(name, fs.sel, fspec, fs.split_spec, scaling=fs.scaler_obj.method,
                             feature_cols=keep_cols, root=root)


def ablation_job(progress, stop_event, *, run_name: str, featureset, group: str, model_spec, config=None,
                 store=None, root=None, context: int | None = None, horizon: int | None = None) -> dict:
    """Train one ablation variant (``group`` removed, or :data:`FULL`); a background-job function."""
    fs = resolve_featureset(featureset, store)
    fspec = fs.feature_spec if group == FULL else ablation_specs(fs.feature_spec, [group])[group]
    if progress:
        progress(0.0, message=f"building features without {group}" if group != FULL else "full feature set")
    variant = _variant(fs, group, fspec, root)
    spec = _model_spec_for(model_spec, len(variant.feature_cols), store, context, horizon)
    info = train(f"{run_name}-{'full' if group == FULL else 'no-' + group}", variant, spec, config, store=store, progress=progress, stop_event=stop_event)
    update_run(info.run_id, store, ablation={"name": run_name, "group": group})
    removed = feature_groups(fs.feature_spec).get(group, []) if group != FULL else []
    return {"group": group, "removed": removed, "n_features": len(variant.feature_cols), "run_id": info.run_id,
            "status": info.status, "val_crps": (info.best or {}).get("val_crps"), "error": info.error}


@dataclass
class AblationResult:
    name: str
    rows: list[dict]

    def table(self):
        """group, removed, n_features, val_crps, delta (variant - full), pct, run_id, status."""
        return ablation_table(self.rows)


def ablation_table(rows: Sequence[dict]):
    """The change in validation CRPS per removed group against the full set (positive = the group helped)."""
    import polars as pl

    rows = [dict(r) for r in rows]
    full = next((r for r in rows if r.get("group") == FULL), None)
    base = full.get("val_crps") if full else None
    out = []
    for r in rows:
        v = r.get("val_crps")
        delta = (v - base) if (v is not None and base is not None) else None
        out.append({"group": r.get("group"), "removed": ", ".join(r.get("removed") or []),
                    "n_features": r.get("n_features"), "val_crps": v, "delta": delta,
                    "pct": (delta / base * 100.0) if (delta is not None and base) else None,
                    "run_id": r.get("run_id"), "status": r.get("status"), "error": r.get("error")})
    schema = {"group": pl.Utf8, "removed": pl.Utf8, "n_features": pl.Int64, "val_crps": pl.Float64,
              "delta": pl.Float64, "pct": pl.Float64, "run_id": pl.Utf8, "status": pl.Utf8, "error": pl.Utf8}
    df = pl.DataFrame(out, schema=schema)
    return df.sort(pl.col("group") != FULL, pl.col("delta"), descending=[False, True], nulls_last=True)


def ablation_groups(featureset, groups: Sequence[str] | None = None, store=None) -> list[str]:
    """[FULL, group, ...]: the variants an ablation trains (groups checked against the set)."""
    fs = resolve_featureset(featureset, store)
    return [FULL, *ablation_specs(fs.feature_spec, groups)]


def run_ablation(name: str, featureset, model_spec, config=None, groups: Sequence[str] | None = None,
                 store=None, root=None, progress=None, stop_event: threading.Event | None = None,
                 context: int | None = None, horizon: int | None = None) -> AblationResult:
    """Train the full set and each group-removed variant one after another (CLI, tests)."""
    stop_event = stop_event or threading.Event()
    variants = ablation_groups(featureset, groups, store)
    rows = []
    for i, g in enumerate(variants):
        if stop_event.is_set():
            break

        def cb(fraction=None, metrics=None, message=None, _i=i, _g=g):
            if progress is not None:
                f = None if fraction is None else (_i + float(fraction)) / len(variants)
                progress(f, metrics=metrics, message=f"{_g}: {message}" if message else _g)

        try:
            rows.append(ablation_job(cb, stop_event, run_name=name, featureset=featureset, group=g, model_spec=model_spec,
                                     config=config, store=store, root=root, context=context, horizon=horizon))
        except SynthwbError as exc:
            rows.append({"group": g, "status": "failed", "error": str(exc)})
    return AblationResult(name, rows)


def submit_ablation(registry, name: str, featureset, model_spec, config=None, groups: Sequence[str] | None = None,
                    store=None, root=None, context: int | None = None, horizon: int | None = None) -> list:
    """One background job per variant (kind "ablation"); collect with :func:`ablation_table`
    over ``[job.result for job in jobs if job.result]``."""
    variants = ablation_groups(featureset, groups, store)
    return [registry.submit("ablation", f"{name}: {g}", ablation_job, run_name=name, featureset=featureset, group=g,
                            model_spec=model_spec, config=config, store=store, root=root, context=context,
                            horizon=horizon)
            for g in variants]
