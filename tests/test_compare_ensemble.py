"""Ensembles: exact path allocation, mixing (not averaging), CRPS of mixtures, fitted weights."""
from __future__ import annotations

import numpy as np
import properscoring
import pytest

from synthwb.core.errors import SpecError
from synthwb.forecast.base import ForecasterBase
from synthwb.forecast.ensemble import (
    EnsembleForecaster,
    allocate,
    fit_weights,
    mix_paths,
    normalise_weights,
    pair_score_matrix,
)
from synthwb.scoring.crps import crps_ensemble


@pytest.mark.parametrize(
    "weights, n, expect",
    [
        ([0.5, 0.3, 0.2], 10, [5, 3, 2]),
        ([1, 1, 1], 10, [4, 3, 3]),            # equal remainders: the earlier member first
        ([2 / 3, 1 / 3], 1000, [667, 333]),     # 666.67 / 333.33 -> the .67 gets the spare path
        ([0.335, 0.335, 0.33], 1000, [335, 335, 330]),
        ([0.1, 0.0, 0.9], 7, [1, 0, 6]),        # quotas 0.7, 0, 6.3 -> floors 0, 0, 6; .7 wins
        ([3, 1], 1, [1, 0]),
    ],
)
def test_allocate_largest_remainder(weights, n, expect):
    counts = allocate(weights, n)
    assert counts.tolist() == expect
    assert counts.sum() == n


def test_weights_are_checked():
    with pytest.raises(SpecError, match="non-negative"):
        normalise_weights([1, -1], 2)
    with pytest.raises(SpecError, match="sum to zero"):
        normalise_weights([0, 0], 2)
    with pytest.raises(SpecError, match="2 weight"):
        normalise_weights([1, 1], 3)


def _marked(member: int, n_origins: int, n_paths: int, T: int, t0: float = 100.0) -> np.ndarray:
    """Paths whose values name their member and path index: member*1000 + path + step/100."""
    p = np.empty((n_origins, n_paths, T))
    p[:, :, 0] = t0
    for k in range(1, T):
        p[:, :, k] = member * 1000 + np.arange(n_paths)[None, :] + k / 100
    return p


def test_mix_paths_draws_exact_counts_without_replacement():
    sets = [_marked(1, 4, 50, 5), _marked(2, 4, 30, 5), _marked(3, 4, 80, 5)]
    mixed = mix_paths(sets, [0.5, 0.3, 0.2], n_paths=40, seed=3)
    assert mixed.shape == (4, 40, 5)
    assert np.all(mixed[:, :, 0] == 100.0)  # t0 column identical
    for o in range(4):
        member = (mixed[o, :, 1] // 1000).astype(int)
        assert np.bincount(member, minlength=4)[1:].tolist() == [20, 12, 8]
        # whole paths: every step of a path comes from the same member path
        assert np.allclose(mixed[o, :, 4] - mixed[o, :, 1], 0.03)
        # no path drawn twice while the member has enough
        assert len(np.unique(mixed[o, :, 1])) == 40


def test_mix_paths_reuses_paths_only_when_a_member_runs_out():
    sets = [_marked(1, 2, 3, 3), _marked(2, 2, 100, 3)]
    mixed = mix_paths(sets, [0.5, 0.5], n_paths=10, seed=0)
    for o in range(2):
        from_one = mixed[o, mixed[o, :, 1] < 2000, 1]
        assert from_one.size == 5
        assert set(np.unique(from_one)) == {1000.01, 1001.01, 1002.01}  # all 3 used, then repeats


def test_mix_paths_rejects_mismatched_members():
    with pytest.raises(SpecError, match="different t0"):
        mix_paths([_marked(1, 2, 5, 3, t0=100.0), _marked(2, 2, 5, 3, t0=101.0)], n_paths=4)
    with pytest.raises(SpecError, match="does not match member 0"):
        mix_paths([_marked(1, 2, 5, 3), _marked(2, 2, 5, 4)], n_paths=4)


def test_mixture_of_two_point_masses_has_hand_computed_crps():
    # member A: every path is 101 after t0; member B: 99. Weights 0.3 / 0.7, truth 100.5.
    T = 3
    a = np.full((1, 10, T), 101.0)
    b = np.full((1, 10, T), 99.0)
    a[:, :, 0] = b[:, :, 0] = 100.0
    mixed = mix_paths([a, b], [0.3, 0.7], n_paths=1000, seed=0)
    # CRPS = E|X - y| - 1/2 E|X - X'| = 0.3*0.5 + 0.7*1.5 - 0.3*0.7*2 = 0.78
    got = crps_ensemble(mixed[0, :, 1], 100.5)
    assert got == pytest.approx(0.78, abs=1e-12)
    assert properscoring.crps_ensemble(100.5, mixed[0, :, 1]) == pytest.approx(0.78, abs=1e-12)
    # averaging prices instead would give a point mass at 99.6: CRPS 0.9 -- mixing is not averaging
    assert crps_ensemble(0.3 * a[0, :, 1] + 0.7 * b[0, :, 1], 100.5) == pytest.approx(0.9)


def test_fit_weights_finds_the_analytic_optimum_of_point_masses():
    # S(w) = w|a-y| + (1-w)|b-y| - w(1-w)|a-b|, a=101, b=99, y=100.5
    # dS/dw = 0.5 - 1.5 - (1 - 2w) * 2 = 0  ->  w* = 0.75, S(w*) = 0.375 + 0.375 - 0.375 = 0.375
    a = np.full((1, 20, 2), 101.0)
    b = np.full((1, 20, 2), 99.0)
    a[:, :, 0] = b[:, :, 0] = 100.0
    realised = np.array([[100.0, 100.5]])
    fit = fit_weights([a, b], realised, task="crps")
    assert fit.weights == pytest.approx([0.75, 0.25], abs=1e-5)
    assert fit.score == pytest.approx(0.375, abs=1e-9)
    assert fit.member_scores == pytest.approx([0.5, 1.5])
    assert fit.equal_score == pytest.approx(0.5 * 0.5 + 0.5 * 1.5 - 0.25 * 2)


def _gbm_member(rng, O, n, T, scale, drift=0.0):
    steps = rng.normal(drift, scale, (O, n, T - 1))
    return 100 * np.exp(np.concatenate([np.zeros((O, n, 1)), np.cumsum(steps, axis=2)], axis=2))


def test_quadratic_form_holds_the_members_and_the_half_pools_exactly():
    rng = np.random.default_rng(0)
    O, n, T = 6, 40, 5
    realised = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (O, T)), axis=1))
    realised[:, 0] = 100.0
    sets = [_gbm_member(rng, O, n, T, 0.01), _gbm_member(rng, O, n, T, 0.03), _gbm_member(rng, O, n, T, 0.005, 0.01)]

    def score(paths):
        return crps_ensemble(np.moveaxis(paths[:, :, 1:], 1, -1), realised[:, 1:]).mean(axis=1)

    Q, ok = pair_score_matrix(sets, score)
    assert ok.all()
    for i in range(3):  # a member alone: its own score, all n paths
        assert Q[i, i] == pytest.approx(score(sets[i]).mean(), rel=1e-12)
    # equal shares of two members: the mean score of two n-path pools, each half of either member's paths
    h = n // 2
    halves = [np.concatenate([sets[0][:, a:b], sets[2][:, a:b]], axis=1) for a, b in ((0, h), (h, n))]
    w = np.array([0.5, 0.0, 0.5])
    assert w @ Q @ w == pytest.approx(np.mean([score(x).mean() for x in halves]), rel=1e-12)
    fit = fit_weights(sets, realised, task="crps")
    assert sum(fit.weights) == pytest.approx(1.0)
    assert fit.score <= min(fit.member_scores) + 1e-12
    assert fit.score <= fit.equal_score + 1e-12


def test_a_mixture_of_two_equal_laws_scores_as_either_not_better():
    """An ensemble score is biased upwards by about c / n paths: a pair pooled from 2n paths would score
    better than its members for nothing, and the fitted weights would lean to equal shares. Every entry
    of the form is an n-path score, so two members of the same law give a flat form."""
    rng = np.random.default_rng(1)
    O, n, T = 400, 32, 13
    realised = _gbm_member(rng, O, 1, T, 0.01)[:, 0]
    a, b = _gbm_member(rng, O, n, T, 0.01), _gbm_member(rng, O, n, T, 0.01)

    def score(paths):
        return properscoring.crps_ensemble(realised[:, 1:], np.moveaxis(paths[:, :, 1:], 1, -1)).mean(axis=1)

    Q, _ = pair_score_matrix([a, b], score)
    member = 0.5 * (Q[0, 0] + Q[1, 1])
    assert abs(Q[0, 1] - member) < 0.005 * member
    # the 2n-path pool (what the form held before): visibly better than either member, by the bias alone
    assert score(np.concatenate([a, b], axis=1)).mean() < 0.985 * member
    fit = fit_weights([a, b], realised, task="crps")
    assert fit.equal_score == pytest.approx(member, rel=0.005)


class _Const(ForecasterBase):
    """A real (if simple) forecaster: every path flat at ``level`` after t0."""

    def __init__(self, level: float):
        self.level = level
        self.calls: list[int] = []

    def forecast(self, bars, origins, n_steps, step_seconds, n_paths, seed):
        self.calls.append(n_paths)
        out = np.full((len(origins), n_paths, n_steps + 1), self.level)
        out[:, :, 0] = 50.0
        return out


def test_ensemble_forecaster_asks_members_for_their_share():
    m1, m2, m3 = _Const(1.0), _Const(2.0), _Const(3.0)
    ens = EnsembleForecaster([m1, m2, m3], [0.6, 0.4, 0.0], names=["a", "b", "c"])
    paths = ens.forecast(None, [0, 1], n_steps=4, step_seconds=300, n_paths=11, seed=1)
    assert paths.shape == (2, 11, 5)
    assert m1.calls == [7] and m2.calls == [4] and m3.calls == []  # 6.6 / 4.4 -> 7 / 4
    assert np.all(paths[:, :, 0] == 50.0)
    assert sorted(paths[0, :, 1].tolist()) == [1.0] * 7 + [2.0] * 4


def test_fit_weights_with_the_synth_scorer_is_exact_on_pooled_ensembles():
    from synthwb.scoring.synth import SynthTask, score_batch

    task = SynthTask.custom("tiny", 60, 7, {"1min": 60, "3min": 180, "6min_abs": 360})
    rng = np.random.default_rng(4)
    O, n, T = 5, 30, 7
    realised = 100 * np.exp(np.cumsum(np.r_[0, *rng.normal(0, 0.002, T - 1)]))[None, :].repeat(O, 0)

    def member(scale):
        steps = rng.normal(0, scale, (O, n, T - 1))
        return 100 * np.exp(np.concatenate([np.zeros((O, n, 1)), np.cumsum(steps, axis=2)], axis=2))

    sets = [member(0.001), member(0.004)]
    fit = fit_weights(sets, realised, task=task)
    w = np.array(fit.weights)
    # an independent check of the quadratic form at w = (1/4, 3/4): pool member 0 once, member 1 3x
    pooled = np.concatenate([sets[0], sets[1], sets[1], sets[1]], axis=1)
    q = np.array([[fit.member_scores[0], 0], [0, fit.member_scores[1]]])
    direct = score_batch(pooled, realised, task).totals.mean()
    pair = score_batch(np.concatenate(sets, axis=1), realised, task).totals.mean()
    q[0, 1] = q[1, 0] = 2 * pair - 0.5 * (q[0, 0] + q[1, 1])
    quarter = np.array([0.25, 0.75])
    assert quarter @ q @ quarter == pytest.approx(direct, rel=1e-10)  # the validator's score is quadratic
    # the fit's form: every entry an n-path score (a pair: the mean of its two half-and-half pools)
    h = n // 2
    halves = [score_batch(np.concatenate([sets[0][:, a:b], sets[1][:, a:b]], axis=1), realised, task).totals.mean()
              for a, b in ((0, h), (h, n))]
    q[0, 1] = q[1, 0] = 2 * np.mean(halves) - 0.5 * (q[0, 0] + q[1, 1])
    assert fit.score == pytest.approx(w @ q @ w, rel=1e-10)
    assert fit.score <= min(fit.member_scores) + 1e-9
    assert fit.n_origins == O


def test_saved_ensemble_of_baselines_loads_and_forecasts(lake_env, demo_lake):
    from synthwb.core.errors import NotFound
    from synthwb.data.lake import read_bars
    from synthwb.data.schema import Selection
    from synthwb.forecast.ensemble import save_ensemble
    from synthwb.forecast.kinds import load_forecaster
    from synthwb.store import list_runs, read_info

    run_id = save_ensemble("gbm + boot", ["baseline:gbm", "baseline:bootstrap"], [3, 1], store=lake_env.store)
    info = read_info(run_id, lake_env.store)
    assert info["kind"] == "ensemble" and info["status"] == "finished"
    assert info["members"] == ["baseline:gbm", "baseline:bootstrap"]
    assert info["weights"] == pytest.approx([0.75, 0.25])
    assert run_id in [r["run_id"] for r in list_runs(lake_env.store)]
    assert not (lake_env.store / run_id / "weights.safetensors").exists()

    ens = load_forecaster(run_id, store=lake_env.store)
    bars = read_bars(Selection("crypto", "BTC", "5min"), root=demo_lake)
    origins = [bars["ts"][3000], bars["ts"][4000]]
    paths = ens.forecast(bars, origins, n_steps=12, step_seconds=300, n_paths=100, seed=0)
    assert paths.shape == (2, 100, 13)
    assert np.all(np.isfinite(paths)) and np.all(paths > 0)
    last = [bars.filter(bars["ts"] <= o)["close"][-1] for o in origins]
    assert np.allclose(paths[:, :, 0], np.array(last)[:, None])

    with pytest.raises(NotFound, match="not a run"):
        save_ensemble("bad", ["baseline:gbm", "no-such-run"], store=lake_env.store)
    with pytest.raises(SpecError, match="at least two"):
        save_ensemble("one", ["baseline:gbm"], store=lake_env.store)
