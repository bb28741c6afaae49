"""Feature ablation: retrain the same model with one feature group (a feature-registry
category) removed at a time, and report the change in validation CRPS per group against the
full feature set (a positive change means the group helped).

:func:`run_ablation` trains the variants one after another; the page runs one "ablation" job
per variant (:mod:`synthwb.jobs.adapters`) and collects them with :func:`ablation_table`.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from synthwb import models
from synthwb.core.errors import SpecError, SynthwbError
from synthwb.core.io import slugify
from synthwb.core.training import part_progress
from synthwb.features.featureset import create_featureset, resolve_featureset
from synthwb.features.registry import FEATURES, FeatureSpec
from synthwb.research.backend import (
    RayOptions,
    absolute_paths,
    check_backend,
    check_cluster,
    in_worker,
)
from synthwb.store import update_run
from synthwb.train.config import TrainConfig
from synthwb.train.loop import prepare, train


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


def model_spec_for(model_spec, n_features: int, store=None, context: int | None = None,
                   horizon: int | None = None):
    """The model spec resized to ``n_features`` inputs (the input projection is the only change)."""
    spec = models.as_spec(model_spec, n_features, store, context, horizon)
    sizes = {k: int(v) for k, v in (("n_features", n_features), ("context", context), ("horizon", horizon))
             if v is not None}
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


def trial_config(cfg: TrainConfig) -> dict:
    """A search trial's or an ablation variant's training settings: the user's, without the calibration and
    the blend (fitted on the validation split after training, they would not change what is compared, the
    network's own validation score, and cost more than a short trial; a search's kept runs get them
    afterwards, :func:`synthwb.research.search.finish_kept`)."""
    return {**cfg.model_dump(mode="json"), "calibrate": False}


def train_variant(progress, stop_event, *, run_name: str, featureset, group: str, model_spec, config=None,
                 store=None, root=None, context: int | None = None, horizon: int | None = None) -> dict:
    """Train one ablation variant (``group`` removed, or :data:`FULL`); the "ablation" job runs it."""
    fs = resolve_featureset(featureset, store)
    fspec = fs.feature_spec if group == FULL else ablation_specs(fs.feature_spec, [group])[group]
    if progress:
        progress(0.0, message=f"building features without {group}" if group != FULL else "full feature set")
    variant = _variant(fs, group, fspec, root)
    spec = model_spec_for(model_spec, len(variant.feature_cols), store, context, horizon)
    info = train(f"{run_name}-{'full' if group == FULL else 'no-' + group}", variant, spec,
                 trial_config(TrainConfig.parse(config)), store=store, progress=progress, stop_event=stop_event)
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


def ablation_plan(featureset, model_spec, config=None, groups: Sequence[str] | None = None, store=None,
                  context: int | None = None, horizon: int | None = None) -> list[str]:
    """[FULL, group, ...]: the variants an ablation trains (groups checked against the set),
    once its model spec and training settings pass on the full feature set as train() checks
    them (task grid, enough rows, device): before any variant trains."""
    fs = resolve_featureset(featureset, store)
    variants = [FULL, *ablation_specs(fs.feature_spec, groups)]
    prepare(fs, model_spec_for(model_spec, len(fs.feature_cols), store, context, horizon), config, store)
    return variants


def run_ablation(name: str, featureset, model_spec, config=None, groups: Sequence[str] | None = None,
                 store=None, root=None, progress=None, stop_event: threading.Event | None = None,
                 context: int | None = None, horizon: int | None = None, backend: str = "local",
                 ray: RayOptions | None = None) -> AblationResult:
    """Train the full set and each group-removed variant: one after another here (CLI,
    tests), or with ``backend="ray"`` as Ray Tune trials (a grid over the variants, each with
    ``ray``'s cpus/gpus); the runs land in models_store the same way."""
    check_backend(backend)
    if backend == "ray":  # the cluster answers as Ray and can run a trial: seconds, before any work
        check_cluster(ray or RayOptions())
    stop_event = stop_event or threading.Event()
    variants = ablation_plan(featureset, model_spec, config, groups, store, context, horizon)
    if backend == "ray":
        setup = {"name": name, "featureset": featureset, "model_spec": model_spec, "config": config,
                 "context": context, "horizon": horizon, "paths": absolute_paths(store, root)}
        rows = _ablation_on_ray(variants, setup, ray, progress, stop_event)
    else:
        rows = _ablation_here(name, featureset, model_spec, config, variants, store, root, progress, stop_event,
                              context, horizon)
    if rows and all(r.get("status") == "failed" for r in rows):
        raise SynthwbError(f"every variant of ablation {name!r} failed ({len(rows)} of {len(rows)}); the first: "
                           f"{rows[0].get('error')}. Fix the model spec or the training settings")
    return AblationResult(name, rows)


def _ablation_here(name, featureset, model_spec, config, variants, store, root, progress, stop_event,
                   context, horizon) -> list[dict]:
    """The variants one after another in this process."""
    rows = []
    for i, g in enumerate(variants):
        if stop_event.is_set():
            break
        try:
            rows.append(train_variant(part_progress(progress, i, len(variants), g), stop_event, run_name=name,
                                      featureset=featureset, group=g, model_spec=model_spec, config=config,
                                      store=store, root=root, context=context, horizon=horizon))
        except SynthwbError as exc:
            rows.append({"group": g, "status": "failed", "error": str(exc)})
    return rows


def _tune_variant(config: dict, setup: dict) -> None:
    """One Ray Tune trial: :func:`train_variant` for ``config["group"]``, its row reported."""
    from ray import tune  # lazy: ray is heavy

    from synthwb.research.tune_link import stop_relay  # lazy: it imports Ray

    in_worker(setup["paths"])
    g = config["group"]
    row = None  # a variant that begins after the job's Stop does not train (no row, as locally)
    with stop_relay(setup.get("stop")) as stop_event:
        if not stop_event.is_set():
            try:
                row = train_variant(None, stop_event, run_name=setup["name"], featureset=setup["featureset"],
                                    group=g, model_spec=setup["model_spec"], config=setup["config"],
                                    store=setup["paths"]["store"], root=setup["paths"]["root"],
                                    context=setup["context"], horizon=setup["horizon"])
            except SynthwbError as exc:
                row = {"group": g, "status": "failed", "error": str(exc)}
    tune.report({"row": json.dumps(row, default=str) if row else ""})


def _ablation_on_ray(variants: list[str], setup: dict, options: RayOptions | None, progress,
                     stop_event: threading.Event) -> list[dict]:
    from ray import tune  # lazy: ray is heavy

    from synthwb.research.tune_link import run_tune  # lazy: it imports Ray

    rows: list[dict] = []

    def on_result(cfg: dict, m: dict) -> None:  # each variant's row as it reports
        if not m.get("row"):
            return  # the job was stopped first: no row, as in a local ablation
        rows.append(json.loads(m["row"]))
        if progress is not None:
            progress(len(rows) / len(variants), metrics=rows[-1],
                     message=f"variant {len(rows)}/{len(variants)} {rows[-1].get('status')} (Ray)")

    grid, _ = run_tune(f"{setup['name']}-ablation", _tune_variant, setup, options, stop_event, on_result,
                       param_space={"group": tune.grid_search(variants)})
    reported = {row.get("group") for row in rows}
    for r in grid:  # a variant whose worker died before it could report
        g = (r.config or {}).get("group")
        if r.error and g not in reported:
            rows.append({"group": g, "status": "failed", "error": f"{type(r.error).__name__}: {r.error}"})
    rows.sort(key=lambda row: variants.index(row["group"]) if row.get("group") in variants else len(variants))
    return rows
