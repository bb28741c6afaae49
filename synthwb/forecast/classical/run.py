"""Classical runs: "fit" instead of "train".

:func:`fit_classical` fits a registered classical model at the end of a selection's bars (in
seconds), and saves it as a run of kind ``classical``: run.json records the selection, the
model and its parameters (``config = {"model", "params"}``) and the fit at the end of the data
(``fit``: parameters, fit time); there is no weights file. Reloaded
(:func:`classical_from_run`), the run refits on its own schedule from the bars before each
origin, so it is backtested, compared, ensembled and used as an anchor like any run, with no
look-ahead however its fit date relates to the period scored.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta

from synthwb.core.errors import DataError, SpecError
from synthwb.data.lake import read_bars
from synthwb.data.schema import Selection
from synthwb.forecast.classical.base import CLASSICAL, ClassicalForecaster
from synthwb.store.runs import create_run, load_run, now_iso


def classical_forecaster(model: str, params: dict | None = None, selection: dict | None = None, root=None,
                         name: str | None = None) -> ClassicalForecaster:
    """A registered classical model as a Forecaster, parameters resolved and checked."""
    entry = CLASSICAL.get(model)
    return entry.obj(selection=selection, root=root, name=name, **entry.resolve(params or {}))


def fit_classical(name: str, model: str, asset_class: str, symbol: str, freq: str, params: dict | None = None,
                  store=None, root=None, end: datetime | None = None) -> dict:
    """Fit ``model`` on the selection's bars up to ``end`` (default: all) and save it as a
    ``classical`` run; returns run.json (with ``run_id``)."""
    sel = Selection(asset_class, symbol, freq, None, end)
    f = classical_forecaster(model, params, sel.to_dict(), root=root)
    start = end - timedelta(days=float(f.context_days)) if end else None
    t = time.perf_counter()
    bars = read_bars(Selection(asset_class, symbol, freq, start, end), root=root)
    if end is None and not bars.is_empty():
        last = bars["ts"].max()
        bars = bars.filter(bars["ts"] >= last - timedelta(days=float(f.context_days)))
    if bars.is_empty():
        raise DataError(f"no {freq} bars for {asset_class}/{symbol}" + (f" before {end:%Y-%m-%d}" if end else ""))
    summary = f.summary(bars)
    seconds = time.perf_counter() - t
    stamp = now_iso()
    run_id = create_run(
        name, store, kind="classical", status="finished", started=stamp, ended=stamp,
        selection={"asset_class": asset_class, "symbol": symbol, "freq": freq},
        model_name=model, config={"model": model, "params": f.params},
        fit={**summary, "seconds": round(seconds, 3), "bars": int(bars.height),
             "data_end": str(bars["ts"].max())},
    )
    return {**load_run(run_id, store).info, "run_id": run_id}


def classical_from_run(run_id: str, store=None, root=None) -> ClassicalForecaster:
    """A saved classical run as a Forecaster (named after the run)."""
    run = load_run(run_id, store)
    cfg = run.info.get("config") or {}
    if run.kind != "classical" or "model" not in cfg:
        raise SpecError(f"run {run_id!r} is not a classical run (kind {run.kind!r})")
    return classical_forecaster(cfg["model"], cfg.get("params") or {}, run.info.get("selection"), root=root,
                                name=run_id)
