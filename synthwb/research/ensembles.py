"""Fitting ensemble weights on a comparison's shared origins (the Research page and
``compare --fit-ensemble``); the mixing and the weight fit are :mod:`synthwb.forecast.ensemble`'s."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from synthwb.core.errors import SpecError
from synthwb.evaluate.backtest import run_backtest
from synthwb.evaluate.compare import CompareRequest
from synthwb.forecast.ensemble import BASELINE_PREFIX, fit_weights


def fit_ensemble(request: CompareRequest, members: Sequence[str], root=None, store=None,
                 progress: Callable[..., None] | None = None, stop_event=None, device: str = "auto"):
    """Fit mixture weights for ``members`` (run ids and ``baseline:<name>``) on the request's
    period (use a validation period, not the test period): backtest them on shared origins
    keeping every path set, then :func:`synthwb.forecast.ensemble.fit_weights`."""
    if int(request.n_origins) > 200:
        raise SpecError(f"fitting ensemble weights keeps every path set in memory: use at most 200 origins, "
                        f"not {request.n_origins}")
    names = [m[len(BASELINE_PREFIX):] if m.startswith(BASELINE_PREFIX) else m for m in members]
    missing = [n for n in names if n not in request.models]
    if missing:
        raise SpecError(f"ensemble member(s) {missing} are not in the fitting request")
    bt = run_backtest(request.backtest_spec(device=device, keep_paths=int(request.n_origins)), root=root,
                      store=store, progress=progress, stop_event=stop_event)
    if bt.status != "finished":
        raise SpecError("fitting was stopped before every member was scored")
    n_o = len(bt.origins)
    sets = []
    for n in names:
        kept = bt.paths.get(n, {})
        if len(kept) != n_o:
            raise SpecError(f"member {n!r} produced no usable paths on {n_o - len(kept)} of {n_o} origins")
        sets.append(np.stack([kept[i] for i in range(n_o)]).astype(np.float64))
    return fit_weights(sets, bt.realised, task=bt.task)
