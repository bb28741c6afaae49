"""The kinds of saved forecaster, and the one loader that reloads any of them.

Each run records its own kind in run.json (:class:`synthwb.store.runs.RunRecord`), as a GluonTS
predictor records its type, and :func:`load_forecaster` hands the run to that kind's loader:

    FORECASTER_KINDS.get("path").obj(run_id, store=..., device=..., ...)  # a RunForecaster

- ``path``: a trained path model (:class:`synthwb.forecast.run.RunForecaster`);
- ``ensemble``: a saved mixture of runs and baselines (:mod:`synthwb.forecast.ensemble`);
- ``moirai``: a Moirai run, zero-shot or fine-tuned (:mod:`synthwb.moirai`); a Moirai 2 run
  predicts quantiles and is scored through the quantiles-to-paths layer
  (:mod:`synthwb.forecast.quantiles`);
- ``classical``: a fitted GARCH-family or HAR-RV model (:mod:`synthwb.forecast.classical`).

Baselines are not saved runs; ensembles name them ``baseline:<name>`` (:func:`member_forecaster`).
"""
from __future__ import annotations

import os

from synthwb.core.errors import SpecError
from synthwb.core.registry import Registry
from synthwb.forecast.baselines import BASELINES
from synthwb.forecast.classical import classical_from_run
from synthwb.forecast.ensemble import BASELINE_PREFIX, EnsembleForecaster
from synthwb.forecast.quantiles import QuantilePathForecaster
from synthwb.forecast.run import RunForecaster
from synthwb.store.runs import check_scorable, load_run

FORECASTER_KINDS = Registry("forecaster kind")

Store = str | os.PathLike | None
_MAX_DEPTH = 8


@FORECASTER_KINDS.register("path", help="a trained path model: blocks + head (Model Builder, Train)")
def _load_path(run_id: str, store: Store = None, device: str = "auto", which: str = "best", root=None,
               calibrated: bool = True, _depth: int = 0) -> RunForecaster:
    return RunForecaster(run_id, store=store, device=device, which=which, root=root, calibrated=calibrated)


@FORECASTER_KINDS.register("ensemble", help="a saved mixture of runs and baselines (Compare)")
def _load_ensemble(run_id: str, store: Store = None, device: str = "auto", which: str = "best", root=None,
                   calibrated: bool = True, _depth: int = 0) -> EnsembleForecaster:
    if _depth > _MAX_DEPTH:
        raise SpecError(f"ensemble {run_id!r} nests too deeply (a member refers back to itself?)")
    info = load_run(run_id, store).info
    members = info.get("members") or []
    if run_id in members:
        raise SpecError(f"ensemble {run_id!r} lists itself as a member")
    forecasters = [member_forecaster(m, store, device, root=root, _depth=_depth + 1) for m in members]
    return EnsembleForecaster(forecasters, info.get("weights"), names=members, name=run_id)


@FORECASTER_KINDS.register("moirai", help="Salesforce Moirai through uni2ts, zero-shot or fine-tuned")
def _load_moirai(run_id: str, store: Store = None, device: str = "auto", which: str = "best", root=None,
                 calibrated: bool = True, _depth: int = 0):
    from synthwb.moirai.forecast import Moirai2Quantiles, load_moirai_run  # lazy: uni2ts is slow to import

    f = load_moirai_run(run_id, store=store, device=device, root=root)
    return QuantilePathForecaster(f) if isinstance(f, Moirai2Quantiles) else f


def moirai_forecaster(spec, featureset, module=None, checkpoint_info: dict | None = None, name: str | None = None,
                      root=None, device: str = "cpu"):
    """A Moirai checkpoint as a path Forecaster, whatever its family: Moirai 1.x samples paths
    (:class:`synthwb.moirai.forecast.MoiraiForecaster`); Moirai 2's quantiles go through the
    quantiles-to-paths layer (:class:`synthwb.forecast.quantiles.QuantilePathForecaster`).
    Without ``module`` the spec's checkpoint is loaded."""
    from synthwb.moirai.checkpoints import load_checkpoint  # lazy: uni2ts is slow to import
    from synthwb.moirai.forecast import Moirai2Quantiles, MoiraiSpec, moirai_class  # lazy: as above

    if module is None:
        loaded = load_checkpoint(MoiraiSpec.parse(spec).checkpoint)
        module, checkpoint_info = loaded.module, loaded.info
    family = (checkpoint_info or {}).get("family", "moirai")
    f = moirai_class(family)(spec, featureset, module=module, name=name, root=root, device=device,
                             checkpoint_info=checkpoint_info)
    return QuantilePathForecaster(f) if isinstance(f, Moirai2Quantiles) else f


@FORECASTER_KINDS.register("classical", help="a fitted classical model: GARCH family or HAR-RV (fit)")
def _load_classical(run_id: str, store: Store = None, device: str = "auto", which: str = "best", root=None,
                    calibrated: bool = True, _depth: int = 0):
    return classical_from_run(run_id, store=store, root=root)


def load_forecaster(run_id: str, store: Store = None, device: str = "auto", which: str = "best", root=None,
                    calibrated: bool = True, _depth: int = 0):
    """Any saved run as a Forecaster on ``device`` (auto: CUDA, then MPS, then CPU), by the kind
    its run.json records. ``calibrated=False``: a path model without its post-hoc calibration.

    A finished run loads; so does an interrupted one from its best weights (labelled by
    :func:`synthwb.store.runs.scoring_label`); an active or failed run is refused with the fix."""
    run = load_run(run_id, store)
    check_scorable(run)
    kind = run.kind
    return FORECASTER_KINDS.get(kind).obj(run_id, store=store, device=device, which=which, root=root,
                                          calibrated=calibrated, _depth=_depth)


def member_forecaster(member: str, store: Store = None, device: str = "auto", root=None, _depth: int = 0):
    """A forecaster for an ensemble member: ``baseline:<name>`` or a run id (ensembles nest)."""
    if member.startswith(BASELINE_PREFIX):
        entry = BASELINES.get(member[len(BASELINE_PREFIX):])
        return entry.obj(**entry.resolve({}))
    return load_forecaster(member, store=store, device=device, root=root, _depth=_depth)
