"""Ensembles of forecasters: mixtures of their path sets.

An ensemble draws ``round(w_m * n_paths)`` whole paths from member ``m`` (exact integer counts
by the largest-remainder method) and pools them. It *mixes paths*, it never averages prices:
averaging would shrink the spread and give a distribution no member believes in, while the
pooled paths are a sample of the mixture ``sum_m w_m F_m`` (a proper distribution whose CRPS is
convex in the weights).

Fitting the weights exploits that convexity exactly. For any score that is a sum of ensemble
CRPS terms (the Synth score, ../shared/DESIGN.md §5, and the plain per-step CRPS), the score of the
weighted mixture of member ensembles is a quadratic form ``S(w) = w' Q w`` on the simplex:
``CRPS(sum w_m F_m, y) = sum_m w_m E|X_m - y| - 1/2 sum_mn w_m w_n E|X_m - X_n'|``. ``Q`` is
recovered from the scorer itself (no duplicated scoring logic): ``Q_mm`` is member ``m``'s
score, and ``Q_mn = 2 S(m+n) - (Q_mm + Q_nn) / 2`` where ``S(m+n)`` scores the pooled
equal-count ensemble of ``m`` and ``n``. The weights minimising ``w' Q w`` on the simplex come
from a small convex QP (scipy SLSQP), so ``M`` members cost ``M (M + 1) / 2`` scoring passes.

Saved ensembles are runs in models_store, reloaded by :mod:`synthwb.forecast.kinds` (``run.json`` with ``"kind": "ensemble"``, the member
names and weights; no weights file). Members are run ids or baseline names written as
``baseline:<name>``.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthwb.core.errors import NotFound, SpecError
from synthwb.forecast.base import ForecasterBase, check_forecaster
from synthwb.forecast.baselines import BASELINES
from synthwb.scoring import synth
from synthwb.scoring.crps import crps_ensemble
from synthwb.store.runs import create_run, read_info, update_run

__all__ = [
    "allocate",
    "normalise_weights",
    "mix_paths",
    "origin_forms",
    "pair_score_matrix",
    "pair_scores",
    "simplex_min",
    "fit_weights",
    "FitResult",
    "EnsembleForecaster",
    "save_ensemble",
    "BASELINE_PREFIX",
]

BASELINE_PREFIX = "baseline:"


# ---------------------------------------------------------------------------------- weights


def _is_number(x) -> bool:
    try:
        float(x)
    except (TypeError, ValueError):
        return False
    return True


def normalise_weights(weights: Sequence[float] | None, n_members: int) -> np.ndarray:
    """Non-negative weights summing to one (``None`` = equal weights)."""
    if n_members < 1:
        raise SpecError("an ensemble needs at least one member")
    if weights is None:
        return np.full(n_members, 1.0 / n_members)
    raw = list(weights)
    try:
        w = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        bad = next((x for x in raw if not _is_number(x)), raw)
        raise SpecError(f"ensemble weights must be numbers, got {bad!r}; give one number per member, "
                        "e.g. 0.5,0.3,0.2") from None
    if w.shape != (n_members,):
        raise SpecError(f"got {w.size} weight(s) for {n_members} member(s)")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise SpecError(f"ensemble weights must be finite and non-negative, got {w.tolist()}")
    total = w.sum()
    if total <= 0:
        raise SpecError("ensemble weights sum to zero; give at least one member a positive weight")
    return w / total


def allocate(weights: Sequence[float] | None, n_paths: int, n_members: int | None = None) -> np.ndarray:
    """Integer path counts per member summing to ``n_paths`` (largest-remainder method).

    Each member first gets ``floor(w_m * n)``; the paths left over go one each to the members
    with the largest fractional remainders (ties: the earlier member)."""
    if n_members is None:
        if weights is None:
            raise SpecError("allocate needs weights or n_members")
        n_members = len(list(weights))
    w = normalise_weights(weights, n_members)
    n_paths = int(n_paths)
    if n_paths < 1:
        raise SpecError(f"n_paths must be at least 1, got {n_paths}")
    quota = w * n_paths
    counts = np.floor(quota + 1e-9).astype(np.int64)
    left = n_paths - int(counts.sum())
    if left > 0:
        frac = quota - counts
        order = np.lexsort((np.arange(n_members), -frac))  # largest remainder first, then index
        counts[order[:left]] += 1
    elif left < 0:  # floating noise pushed a floor up; take back from the smallest remainders
        frac = quota - counts
        order = np.lexsort((-np.arange(n_members), frac))
        for i in order:
            if left == 0:
                break
            if counts[i] > 0:
                counts[i] -= 1
                left += 1
    return counts


def _check_sets(path_sets: Sequence[np.ndarray]) -> list[np.ndarray]:
    if not path_sets:
        raise SpecError("an ensemble needs at least one member")
    sets = [np.asarray(p, dtype=np.float64) for p in path_sets]
    shape0 = sets[0].shape
    for i, p in enumerate(sets):
        if p.ndim != 3:
            raise SpecError(f"member {i}: paths must be (n_origins, n_paths, T), got shape {p.shape}")
        if p.shape[0] != shape0[0] or p.shape[2] != shape0[2]:
            raise SpecError(
                f"member {i}: paths shape {p.shape} does not match member 0 {shape0} "
                "(same origins and horizon needed)"
            )
        if p.shape[1] < 1:
            raise SpecError(f"member {i} has no paths")
    # same origins: the members' t0 agree. Under validator timing column 0 is each path's own
    # estimate of the price at the start time (a few minutes after the last close), so compare
    # the medians (members simulate from the same last close), to within 0.1%
    t0 = np.nanmedian(sets[0][:, :, 0], axis=1)
    for i, p in enumerate(sets[1:], start=1):
        other = np.nanmedian(p[:, :, 0], axis=1)
        ok = np.isclose(other, t0, rtol=1e-3, atol=0.0) | (np.isnan(other) & np.isnan(t0))
        if not np.all(ok):
            raise SpecError(
                f"member {i} starts from a different t0 price than member 0; "
                "members must forecast from the same origins and last close"
            )
    return sets


def _pick(rng: np.random.Generator, n_origins: int, available: int, count: int) -> np.ndarray:
    """Per-origin path indices: ``count`` draws without replacement while possible."""
    if count <= available:
        return np.argsort(rng.random((n_origins, available)), axis=1)[:, :count]
    reps = -(-count // available)
    perms = np.concatenate([np.argsort(rng.random((n_origins, available)), axis=1) for _ in range(reps)], axis=1)
    return perms[:, :count]


def mix_paths(path_sets: Sequence[np.ndarray], weights: Sequence[float] | None = None,
              n_paths: int = 1000, seed: int = 0, shuffle: bool = True) -> np.ndarray:
    """Pool whole paths from each member in proportion to its weight.

    ``path_sets``: arrays ``(n_origins, n_paths_m, T)`` with the same origins, horizon and t0.
    Member ``m`` contributes exactly ``allocate(weights, n_paths)[m]`` paths per origin, drawn
    without replacement (with replacement only when it asks for more paths than it has). The
    t0 column of the result is identical for every path (member 0's t0). ``shuffle`` mixes
    the order of the pooled paths within each origin.
    """
    sets = _check_sets(path_sets)
    counts = allocate(weights, n_paths, len(sets))
    rng = np.random.default_rng(seed)
    n_origins, _, T = sets[0].shape
    out = np.empty((n_origins, int(n_paths), T), dtype=np.float64)
    pos = 0
    rows = np.arange(n_origins)[:, None]
    for p, c in zip(sets, counts):
        if c == 0:
            continue
        idx = _pick(rng, n_origins, p.shape[1], int(c))
        out[:, pos:pos + c, :] = p[rows, idx, :]
        pos += c
    if shuffle and n_origins:
        order = np.argsort(rng.random((n_origins, int(n_paths))), axis=1)
        out = out[rows, order, :]
    out[:, :, 0] = sets[0][:, :1, 0]
    return out


# ------------------------------------------------------------------------------ weight fitting

ScoreFn = Callable[[np.ndarray], np.ndarray]
"""paths ``(n_origins, n_paths, T)`` -> per-origin scores ``(n_origins,)`` (NaN = invalid)."""


def _task_scorer(task: Any, realised: np.ndarray, step_seconds: int | None) -> ScoreFn:
    """Per-origin score function: the Synth-style total for a task, or mean per-step CRPS."""
    realised = np.asarray(realised, dtype=np.float64)
    if task in ("crps", None):
        def crps_score(paths: np.ndarray) -> np.ndarray:
            x = np.moveaxis(paths[:, :, 1:], 1, -1)  # (O, T-1, n)
            terms = crps_ensemble(x, realised[:, 1:])
            return np.nanmean(terms, axis=1)

        return crps_score
    def synth_score(paths: np.ndarray) -> np.ndarray:
        return _synth_totals(paths, realised, task, step_seconds)

    return synth_score


def _synth_totals(paths, realised, task, step_seconds) -> np.ndarray:
    """Per-origin Synth totals through the scorer (invalid -> NaN)."""
    res = synth.score_batch(paths, realised, task=task, step_seconds=step_seconds)
    return np.where(np.asarray(res.valid, dtype=bool), np.asarray(res.totals, dtype=np.float64), np.nan)


def pair_scores(path_sets: Sequence[np.ndarray], score_fn: ScoreFn) -> np.ndarray:
    """Per-origin scores ``(M, M, n_origins)`` of every member (diagonal) and of every pair's pooled
    ensemble (symmetric; NaN = invalid), every one of the same ``n`` paths: all members are trimmed to the
    smallest common even path count ``n`` first (paths within a member are exchangeable), and a pair's
    score is the mean of two pooled ensembles, each ``n / 2`` paths of both members (first halves, then
    second halves).

    Why the same ``n``: an ensemble score (the validator's CRPS) is biased upwards by about ``c / n``
    (the ``E|X - X'|`` term counts each path against itself), so a pair pooled from ``2n`` paths
    scored ``c / 2n`` better than its members for nothing (0.2% of the 24h score at ``n`` = 256), and
    weights fitted on such a matrix were pulled towards equal shares. With every entry at ``n`` paths
    the quadratic form of :func:`origin_forms` is the score of an ``n``-path mixture at any weights."""
    sets = _check_sets(path_sets)
    n = min(p.shape[1] for p in sets)
    M = len(sets)
    if M > 1 and n < 2:
        raise SpecError("each member needs at least 2 paths to score its pairs")
    h = n // 2
    sets = [p[:, :2 * h, :] if M > 1 else p[:, :n, :] for p in sets]
    per = np.empty((M, M, sets[0].shape[0]))
    for i in range(M):
        per[i, i] = np.asarray(score_fn(sets[i]), dtype=np.float64)
        for j in range(i):
            a = score_fn(np.concatenate([sets[i][:, :h], sets[j][:, :h]], axis=1))
            b = score_fn(np.concatenate([sets[i][:, h:], sets[j][:, h:]], axis=1))
            per[i, j] = per[j, i] = 0.5 * (np.asarray(a, dtype=np.float64) + np.asarray(b, dtype=np.float64))
    return per


def origin_forms(per: np.ndarray) -> np.ndarray:
    """The mixture score's quadratic form at each origin ``(n_origins, M, M)`` from :func:`pair_scores`:
    ``Q_mm`` = member ``m``'s score, ``Q_mn = 2 s(m + n) - (s(m) + s(n)) / 2``, so ``w' Q w`` is the
    score of the mixture with weights ``w`` (exact for a CRPS, whose mixture score is quadratic)."""
    d = np.einsum("iio->oi", per)
    Q = 2.0 * np.moveaxis(per, -1, 0) - 0.5 * (d[:, :, None] + d[:, None, :])
    i = np.arange(per.shape[0])
    Q[:, i, i] = d
    return Q


def pair_score_matrix(path_sets: Sequence[np.ndarray], score_fn: ScoreFn) -> tuple[np.ndarray, np.ndarray]:
    """The quadratic form ``Q`` (M x M) of the mixture score and the mask of usable origins:
    :func:`origin_forms` averaged over the origins where every member and pair is valid (so all
    entries average over the same origins)."""
    Qo = origin_forms(pair_scores(path_sets, score_fn))
    ok = np.isfinite(Qo).all(axis=(1, 2))
    if not ok.any():
        raise SpecError("no validation origin where every member has a valid score; cannot fit weights")
    return Qo[ok].mean(axis=0), ok


@dataclass
class FitResult:
    """Fitted mixture weights and what they achieve on the validation origins."""

    weights: list[float]
    score: float                  # w' Q w: the mixture's mean validation score
    member_scores: list[float]    # each member alone (diag Q)
    equal_score: float            # equal weights
    n_origins: int
    task: str
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"weights": self.weights, "score": self.score, "member_scores": self.member_scores,
                "equal_score": self.equal_score, "n_origins": self.n_origins, "task": self.task, **self.extra}


def simplex_min(Q: np.ndarray) -> np.ndarray:
    """argmin over the simplex of w' Q w (convex for a CRPS mixture); SLSQP from the best vertex."""
    from scipy.optimize import minimize

    M = Q.shape[0]
    if M == 1:
        return np.ones(1)
    Qs = 0.5 * (Q + Q.T)
    starts = [np.full(M, 1.0 / M), np.eye(M)[int(np.argmin(np.diag(Qs)))]]
    best_w, best_f = None, np.inf
    for w0 in starts:
        res = minimize(lambda w: float(w @ Qs @ w), w0, jac=lambda w: 2.0 * Qs @ w, method="SLSQP",
                       bounds=[(0.0, 1.0)] * M,
                       constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(M)}],
                       options={"ftol": 1e-12, "maxiter": 500})
        w = np.clip(res.x, 0.0, None)
        w = w / w.sum()
        f = float(w @ Qs @ w)
        if f < best_f:
            best_w, best_f = w, f
    # a vertex may beat an interior stationary point that SLSQP stopped short of
    for m in range(M):
        if Qs[m, m] < best_f - 1e-12:
            best_w, best_f = np.eye(M)[m], float(Qs[m, m])
    best_w[best_w < 1e-6] = 0.0
    return best_w / best_w.sum()


def fit_weights(path_sets: Sequence[np.ndarray], realised: np.ndarray, task: Any = "24h",
                step_seconds: int | None = None, score_fn: ScoreFn | None = None) -> FitResult:
    """Mixture weights minimising the mean validation score of the pooled ensemble.

    ``path_sets``: one ``(n_origins, n_paths, T)`` array per member over the *validation*
    origins; ``realised``: ``(n_origins, T)`` prices on the same grid. ``task``: a Synth task
    name ("24h", "1h", or a task object understood by :mod:`synthwb.scoring.synth`), or
    ``"crps"`` for the mean per-step price CRPS. ``score_fn`` overrides the scorer.
    """
    sets = _check_sets(path_sets)
    realised = np.asarray(realised, dtype=np.float64)
    if realised.shape != (sets[0].shape[0], sets[0].shape[2]):
        raise SpecError(f"realised prices must be (n_origins, T) = {(sets[0].shape[0], sets[0].shape[2])}, "
                        f"got {realised.shape}")
    fn = score_fn or _task_scorer(task, realised, step_seconds)
    Q, ok = pair_score_matrix(sets, fn)
    w = simplex_min(Q)
    M, n_used = len(sets), int(min(p.shape[1] for p in sets))
    eq = np.full(M, 1.0 / M)
    return FitResult(
        weights=[float(x) for x in w],
        score=float(w @ Q @ w),
        member_scores=[float(x) for x in np.diag(Q)],
        equal_score=float(eq @ Q @ eq),
        n_origins=int(ok.sum()),
        task=str(getattr(task, "name", task)),
        extra={"n_paths_used": n_used - n_used % 2 if M > 1 else n_used},  # pairs take half of each member
    )


# ------------------------------------------------------------------------------- forecaster


def carry_drift(paths: np.ndarray, drift: np.ndarray) -> np.ndarray:
    """``paths`` (n_origins, n_paths, T + 1) moved by a per-step log drift ``drift`` (n_origins, >= T): the
    location of one forecaster given to the paths of another (a blend's classical partners take the
    run's drift); the spread is untouched. In place; returns ``paths``."""
    t = paths.shape[-1] - 1
    paths[:, :, 1:] *= np.exp(np.cumsum(np.asarray(drift, dtype=np.float64)[:, :t], axis=1))[:, None, :]
    return paths


def _split_seed(seed: int, n: int) -> list[int]:
    ss = np.random.SeedSequence(int(seed))
    return [int(s.generate_state(1)[0]) for s in ss.spawn(n)]


class EnsembleForecaster(ForecasterBase):
    """A Forecaster (``forecast(bars, origins, n_steps, step_seconds, n_paths, seed)``) that
    asks each member for its allocated number of paths and pools them (see :func:`mix_paths`)."""

    def __init__(self, members: Sequence[Any], weights: Sequence[float] | None = None,
                 names: Sequence[str] | None = None, name: str = "ensemble"):
        if not members:
            raise SpecError("an ensemble needs at least one member")
        for i, m in enumerate(members):
            check_forecaster(m, f"ensemble member {i}")
        self.members = list(members)
        self.weights = normalise_weights(weights, len(self.members))
        self.names = list(names) if names is not None else [m.name for m in members]
        self.name = name

    @property
    def context_days(self) -> float:
        """Days of bars before an origin the hungriest member reads (for the backtest's data reads)."""
        return max((float(m.context_days) for m in self.members), default=0.0)

    @property
    def context_bars(self) -> int:
        """Bars of history before an origin the hungriest member needs (0 when none says)."""
        return max((int(m.context_bars) for m in self.members), default=0)

    @property
    def step_seconds(self) -> int:
        """The members' native forecast step (0 when no member has one, e.g. baselines only)."""
        steps = {int(m.step_seconds) for m in self.members} - {0}
        if len(steps) > 1:
            raise SpecError(f"ensemble {self.name!r}: members forecast on different grids ({sorted(steps)} s); "
                            "combine members trained on the same bar size")
        return steps.pop() if steps else 0

    def grid_steps(self, n_steps: int, step_seconds: int) -> int:
        """Steps on the members' common grid (members on their own grid must agree)."""
        steps = {int(m.grid_steps(n_steps, step_seconds)) for m in self.members if m.step_seconds}
        if len(steps) > 1:
            raise SpecError(f"ensemble {self.name!r}: members forecast on different grids ({sorted(steps)} steps); "
                            "combine members with the same bar size")
        return steps.pop() if steps else int(n_steps)

    def forecast(self, bars, origins, n_steps: int, step_seconds: int, n_paths: int = 1000, seed: int = 0) -> np.ndarray:
        counts = allocate(self.weights, n_paths, len(self.members))
        seeds = _split_seed(seed, len(self.members) + 1)
        parts = []
        for member, c, s in zip(self.members, counts, seeds):
            if c == 0:
                continue
            p = np.asarray(member.forecast(bars, origins, n_steps, step_seconds, int(c), s), dtype=np.float64)
            parts.append(p)
        sets = _check_sets(parts)
        pooled = shuffle_paths(np.concatenate(sets, axis=1), seeds[-1])
        pooled[:, :, 0] = sets[0][:, :1, 0]
        return pooled


def shuffle_paths(pooled: np.ndarray, seed) -> np.ndarray:
    """The pooled members' paths ``(B, P, T)`` in a random order per origin (seeded), so that any
    first ``k`` paths hold each member's share."""
    order = np.argsort(np.random.default_rng(int(seed)).random(pooled.shape[:2]), axis=1)
    return pooled[np.arange(pooled.shape[0])[:, None], order, :]


# ------------------------------------------------------------------------------ persistence


def save_ensemble(name: str, members: Sequence[str], weights: Sequence[float] | None = None,
                  store: str | os.PathLike | None = None, fit: FitResult | dict | None = None,
                  selection: dict | None = None) -> str:
    """Save an ensemble as a run (``run.json`` with kind "ensemble"); returns its run id.

    Every member must exist now (a run id in the store or ``baseline:<name>``), so a saved
    ensemble always loads. An ensemble may not contain itself."""
    members = [str(m).strip() for m in members]
    if len(members) < 2:
        raise SpecError("an ensemble needs at least two members")
    if len(set(members)) != len(members):
        raise SpecError(f"ensemble members repeat: {members}")
    w = normalise_weights(weights, len(members))
    sel = selection
    for m in members:
        if m.startswith(BASELINE_PREFIX):
            BASELINES.get(m[len(BASELINE_PREFIX):])
        else:
            try:
                info = read_info(m, store)
            except NotFound:
                raise NotFound(f"ensemble member {m!r} is not a run in the store (baselines: 'baseline:<name>')") from None
            sel = sel or info.get("selection")
    fit_d = fit.to_dict() if isinstance(fit, FitResult) else fit
    run_id = create_run(name, store, kind="ensemble", members=members, weights=[float(x) for x in w],
                        fit=fit_d, selection=sel, model_name="ensemble")
    return update_run(run_id, store, status="finished", ended=None)["run_id"]
