"""Blending a trained run with the classical forecasters, fitted on the validation split only.

The last step of training an anchored run with a target task (after its calibration): the run
(calibrated) and every default classical forecaster (:func:`synthwb.forecast.classical.refs.
default_classical`, each refitted on its schedule from the bars before each origin) forecast
the same validation windows; the mixture weights that minimise the task's exact score of the
pooled paths come from :func:`synthwb.forecast.ensemble.fit_weights` (the score of a mixture is a
quadratic form in its weights). Shares under ``MIN_WEIGHT`` are dropped, the rest renormalised; a
blend that lowers the validation score by less than ``MIN_BLEND_GAIN`` is not kept.

Each classical partner keeps its own paths, price martingales (``drift: "zero"`` in the record); the
run keeps its calibrated drift. A partner moved onto the run's drift (``drift: "run"``, a
candidate beside the martingale form on 2026-12-07; records that hold one still forecast so) lent the
run's drift to the classical share too. Scored on the quality panel's test folds
(``bench/bench_blend.py``: 20 folds, 800 windows each, every member and mixture an N-path ensemble),
the blend with it was 0.04% behind the martingale-only one on the eight series' mean (0.1% on
15-minute BTC, EURUSD backtesting.py and the demo's 1h task; the same on the others): the run's
drift on the partners helped in some folds and cost in others, and the validation month before a
fold does not tell which.

The weights minimise the validation score of an N-path mixture: every entry of the fit's quadratic
form is an N-path score (:func:`synthwb.forecast.ensemble.pair_scores`), so a mixture is not
rewarded for pooling more paths (the validator's CRPS estimator favours larger ensembles by about
c / N).

Why: on real series the network adds little to its classical anchor, and which classical model
does best changes from series to series and period to period; a mixture fitted on held-out data
keeps the run's share, so it keeps the run's edge where it has one, and it leans on the
classical models where they do better (forecast combination, Bates and Granger 1969). The record
is saved in run.json as ``blend``; :class:`synthwb.forecast.run.RunForecaster` then draws each
partner's share of the paths (``blended=False``, or the uncalibrated twin, reads the run alone).
"""
from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import torch

from synthwb.core.errors import DataError
from synthwb.data.lake import read_bars
from synthwb.data.schema import Selection
from synthwb.forecast.classical.refs import parse_classical
from synthwb.forecast.ensemble import fit_weights
from synthwb.models.backbone import location_drift
from synthwb.train.losses import task_points

BLEND_WINDOWS = 200     # validation windows the weights are fitted on (every path set is kept in memory)
MIN_WEIGHT = 0.02       # a partner's share below this is dropped (noise; and a refit per origin saved)
MIN_BLEND_GAIN = 5e-4   # relative validation gain a blend must bring, else the run stays alone


@torch.no_grad()
def blend_members(model, ds, task, step_seconds: int, bar_seconds: int, selection: dict, root=None,
                  n_paths: int = 256, batch_size: int = 32, device: torch.device | str = "cpu", seed: int = 0,
                  classical="all") -> dict:
    """The candidate members of a blend over the windows ``ds``: ``names`` (label, drift), one path set
    per member (the run first, as it forecasts), the realised prices, the classical references, the
    windows' origins, the models left out (and why) and the run's per-step log drift ``drift``."""
    model.eval()
    n = task_points(task, step_seconds)
    gen = torch.Generator(device=device).manual_seed(int(seed) + 4242)
    runs, real, t0, drift = [], [], [], []
    for b in ds.batches(batch_size):
        b = b.to(device)
        out = model(b.x, b.last_close, int(n_paths), generator=gen, **b.anchor)
        runs.append(out.paths[..., :n].double().cpu())
        drift.append(location_drift(out.extras)[:, :n - 1].double().cpu())
        real.append(b.future[..., :n].double().cpu())
        t0.append(b.anchor["t0"].double().cpu())
    if not runs or sum(r.shape[0] for r in runs) < 2:
        raise DataError("the validation split has fewer than 2 windows: nothing to fit a blend on")
    run_paths, realised, drift = torch.cat(runs).numpy(), torch.cat(real).numpy(), torch.cat(drift).numpy()
    origins = [datetime.fromtimestamp(float(t) - bar_seconds, UTC) for t in torch.cat(t0).tolist()]
    bars = read_bars(Selection(selection["asset_class"], selection["symbol"], selection["freq"]), root=root)
    refs = {r.label: r for r in parse_classical(classical)}
    names, sets, left_out = [("run", "")], [run_paths], {}
    for i, ref in enumerate(refs.values()):
        f = ref.forecaster(selection, root=root)
        try:
            p = f.forecast(bars, origins, n - 1, step_seconds, int(n_paths), int(seed) + 101 * (i + 1))
        except DataError as exc:  # e.g. less history before the first window than the model's fit needs
            left_out[ref.label] = str(exc)
            continue
        p = p * (realised[:, :1] / p[:, :1, 0])[:, :, None]  # from the run's t0 price
        names.append((ref.label, "zero"))
        sets.append(p)
    if len(sets) < 2:
        raise DataError("no classical forecaster could forecast the validation windows: "
                        + "; ".join(f"{k}: {v}" for k, v in left_out.items()))
    return {"names": names, "sets": sets, "realised": realised, "refs": refs, "origins": origins,
            "left_out": left_out, "drift": drift}


def fit_blend(model, ds, task, step_seconds: int, bar_seconds: int, selection: dict, root=None,
              n_paths: int = 256, batch_size: int = 32, device: torch.device | str = "cpu", seed: int = 0,
              classical="all") -> dict:
    """The blend record of ``model`` (calibrated as it will forecast) over the windows ``ds``:
    the run's share and its partners' (``ClassicalRef`` fields, label and weight), the validation
    scores of each member and of the fitted mixture, what was left out and why."""
    m = blend_members(model, ds, task, step_seconds, bar_seconds, selection, root, n_paths, batch_size, device,
                      seed, classical)
    names, sets, realised, refs, origins = m["names"], m["sets"], m["realised"], m["refs"], m["origins"]
    run_paths = sets[0]
    fit = fit_weights(sets, realised, task=task, step_seconds=step_seconds)
    w = kept_shares(fit.weights, fit.score, fit.member_scores[0])
    return {"run_weight": float(w[0]),
            "partners": [{**refs[nm].model_dump(), "label": nm, "drift": dr, "weight": float(x)}
                         for (nm, dr), x in zip(names[1:], w[1:]) if x > 0],
            "val_score_run": float(fit.member_scores[0]),
            "val_score_blend": float(fit.score),  # at the fitted weights, before the small ones are dropped
            "member_val_scores": {member_label(nm, dr): float(s) for (nm, dr), s in zip(names, fit.member_scores)},
            "left_out": m["left_out"], "n_windows": int(run_paths.shape[0]), "n_paths": int(n_paths),
            "period": [origins[0].isoformat(), origins[-1].isoformat()]}


def kept_shares(weights, score: float, run_score: float) -> np.ndarray:
    """The shares a blend keeps of fitted mixture ``weights`` (the run first): those under ``MIN_WEIGHT``
    dropped and the rest renormalised; the run alone when the mixture's validation ``score`` is not at
    least ``MIN_BLEND_GAIN`` below the run's (a gain within noise)."""
    w = np.asarray(weights, dtype=np.float64).copy()
    w[w < MIN_WEIGHT] = 0.0
    w = w / w.sum()
    if score > run_score * (1 - MIN_BLEND_GAIN):
        w = np.r_[1.0, np.zeros(len(w) - 1)]
    return w


def member_label(label: str, drift: str = "run") -> str:
    """A blend member's name in tables and text: the classical model's label, "(zero drift)" when it keeps
    its own martingale paths instead of the run's drift (a partner recorded before the choice existed
    carries the run's drift)."""
    return f"{label} (zero drift)" if drift == "zero" else label


def blend_text(blend: dict | None) -> str:
    """One line on a run's blend for the CLI and the pages ("" when the run was never blended)."""
    if not blend:
        return ""
    if blend.get("skipped"):
        return f"not blended with the classical forecasters: {blend['skipped']}"
    parts = ", ".join(f"{member_label(p['label'], p.get('drift', 'run'))} {p['weight']:.0%}"
                      for p in blend.get("partners") or [])
    if not parts:
        return ("blend (validation split): the run alone (mixing in the classical forecasters gained less than "
                f"{MIN_BLEND_GAIN:.2%} there)")
    return (f"blend (validation split): run {blend['run_weight']:.0%}, {parts}; validation score "
            f"{blend['val_score_run']:.1f} -> {blend['val_score_blend']:.1f} on {blend['n_windows']} windows")
