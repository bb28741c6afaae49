"""What a training run is made of, resolved and cross-checked before any run folder exists.

``prepare(featureset, model_spec, config)`` turns the caller's names, dicts and files into a
feature set, a :class:`~synthwb.models.spec.ModelSpec` sized for it (bar, path step, horizon of
the target task) and a :class:`TrainConfig`; every problem is a SynthwbError naming it. Part of
:mod:`synthwb.train.loop`, which re-exports these names.
"""
from __future__ import annotations

import math
from typing import Any

from synthwb.core.device import resolve_device
from synthwb.core.errors import DataError, SpecError
from synthwb.data.schema import FREQ_SECONDS
from synthwb.features.featureset import resolve_featureset
from synthwb.models import preset_names as _names
from synthwb.models.presets import as_spec
from synthwb.scoring.synth import get_task
from synthwb.train.config import TrainConfig
from synthwb.train.pool import pool_featuresets


def featureset_payload(fs) -> dict:
    """The feature set as a JSON dict embedded in run.json (spec, selection, scaling)."""
    for attr in ("to_dict", "to_json_dict"):
        fn = getattr(fs, attr, None)
        if callable(fn):
            return fn()
    raise SpecError("the feature set cannot be serialised (it has no to_dict())")


def n_features_of(fs) -> int:
    cols = getattr(fs, "feature_cols", None)
    if cols is None:
        raise SpecError("cannot tell how many features the feature set has (no feature_cols)")
    return len(cols)


def step_seconds_of(fs) -> int:
    sel = getattr(fs, "selection", None)
    freq = getattr(sel, "freq", None) if sel is not None else None
    if freq is None and isinstance(sel, dict):
        freq = sel.get("freq")
    if freq not in FREQ_SECONDS:
        raise SpecError(f"the feature set's selection has no known bar size ({freq!r})")
    return FREQ_SECONDS[freq]


def resolve_spec(model_spec: Any, fs, store=None, context: int | None = None, horizon: int | None = None):
    """A ModelSpec from a ModelSpec, a dict, a JSON file, a preset name or a saved spec name.

    Presets are sized for the feature set (its number of features) and ``context``/``horizon``
    (preset defaults when None).
    """
    spec = as_spec(model_spec, n_features_of(fs), store, context, horizon)
    nf = n_features_of(fs)
    if int(spec.n_features) != nf:
        raise SpecError(f"the model spec expects {spec.n_features} input features but the feature set "
                        f"has {nf}; rebuild the spec for this feature set")
    return spec


def prepare(featureset: Any, model_spec: Any, config: TrainConfig | dict | None = None, store=None,
            context: int | None = None, horizon: int | None = None):
    """Resolve and cross-check a training setup before any run folder is made; returns
    ``(featureset, spec, config)``. Every problem raises a SynthwbError naming it (the Train
    page calls this before it starts a job).

    The spec is completed for the feature set: its bar (``bar_seconds``) and, when not set, the
    path step and horizon of the task the run targets. With the synth loss the path step is the
    task's step when it divides the bar (1h features -> 5-minute paths for the 24h task, the
    targets then come from the finest stored bars), else the bar; a preset's horizon defaults to
    the task's horizon on that grid. A har-anchored spec gets the feature set's hour-of-week
    profile (``anchor_profile``, :func:`anchor_profile`)."""
    cfg = TrainConfig.parse(config)
    resolve_device(cfg.device)  # a device this machine lacks is refused before any run folder exists
    fs = resolve_featureset(featureset, store)
    spec = resolve_spec(model_spec, fs, store, context=context, horizon=horizon)
    if cfg.pool:
        pool_featuresets(fs, cfg.pool, store)
    bar = step_seconds_of(fs)
    step = spec.step_seconds
    task = get_task(cfg.synth_task, cfg.validator)
    if step is None:
        step = task.step_seconds if cfg.loss == "synth" and bar % task.step_seconds == 0 else bar
    sizes: dict[str, Any] = {"bar_seconds": bar, "step_seconds": step if step != bar else None}
    if spec.anchor == "har":  # the profile belongs to the feature set the run trains on, never to an old spec's
        sizes["anchor_profile"] = anchor_profile(fs)
    if horizon is None and isinstance(model_spec, str) and model_spec in preset_names() and cfg.loss == "synth":
        sizes["horizon"] = task.horizon_seconds // step if task.horizon_seconds % step == 0 else spec.horizon
    spec = spec.with_sizes(**sizes)
    if cfg.loss == "synth":
        check_synth_grid(task, step, int(spec.horizon))
    need = int(spec.context) + -(-int(spec.horizon) * step // bar)
    rows = getattr(fs, "rows", None) or {}
    for split in ("train", "val"):
        if split in rows and int(rows[split]) < need:
            raise DataError(f"the {split} split of feature set {getattr(fs, 'name', '')!r} has {rows[split]} bars, "
                            f"fewer than context {spec.context} + horizon {spec.horizon} steps ({need} bars); "
                            "use a shorter context/horizon or more data")
    return fs, spec, cfg


def anchor_profile(fs: Any) -> list[float] | None:
    """The hour-of-week variance profile the feature set's ``har_anchor`` fitted on its training split
    (168 factors, rounded), for a har-anchored model's steps between the knots; None when it has none
    (``seasonal="off"``, the plain log-HAR, or a feature set without the feature)."""
    state = (getattr(fs, "fitted", None) or {}).get("har_anchor")
    if not isinstance(state, dict) or state.get("seasonal") != "week" or len(state.get("factor") or []) != 168:
        return None
    fac = [round(float(x), 4) for x in state["factor"]]
    return fac if all(math.isfinite(x) and x > 0 for x in fac) else None


def check_synth_grid(task: Any, step_seconds: int, horizon: int | None = None) -> None:
    """The Synth loss scores on the model's grid: every interval must be a whole number of path
    steps, and the paths must reach the task's horizon."""
    t = get_task(task)
    bad = [iv.name for iv in t.intervals if iv.seconds % step_seconds]
    if bad:
        raise SpecError(f"the synth loss for the {t.name} task needs a path step that divides every scoring "
                        f"interval; {step_seconds} s steps do not divide {bad} (use 1min or 5min bars or paths, "
                        "or the crps loss)")
    if t.vol_blocks and t.step_seconds % step_seconds:
        raise SpecError(f"the synth loss for the {t.name} task scores volatility on {t.step_seconds} s returns; "
                        f"{step_seconds} s steps do not divide it (use paths of {t.step_seconds} s or finer)")
    if horizon is not None and horizon * step_seconds < t.horizon_seconds:
        raise SpecError(f"the {t.name} task scores {t.horizon_seconds // 3600:g} h ahead but the model's horizon "
                        f"is {horizon} steps of {step_seconds} s ({horizon * step_seconds / 3600:g} h); use a "
                        f"horizon of at least {-(-t.horizon_seconds // step_seconds)} steps")


def target_task(config: TrainConfig, step_seconds: int, horizon: int):
    """(task, its points on the model grid) the validation scores, or (None, 0) when the grid
    does not fit it (a step-CRPS run on bars the task cannot be scored on)."""
    task = get_task(config.synth_task, config.validator)
    try:
        check_synth_grid(task, step_seconds, horizon)
    except SpecError:
        return None, 0
    return task, task.grid_points(step_seconds)


def preset_names() -> list[str]:
    return _names()
