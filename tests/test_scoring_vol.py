"""The volatility term of the Crypto 1h score (validator 2026-09, DESIGN.md §5): the exact scorer,
the batched scorers and the differentiable torch loss against an independent reference loop
(properscoring block by block), a case computed by hand, gradients, and 2026-05 unchanged."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from synthwb.core.errors import SpecError
from synthwb.scoring.batched import score_totals_torch
from synthwb.scoring.reference import reference_score, reference_vol_score
from synthwb.scoring.synth import (
    TASKS,
    SynthTask,
    VolBlock,
    block_vols,
    get_task,
    score_batch,
    score_paths,
    synth_loss_torch,
)

V09, V05 = get_task("1h", "2026-09"), get_task("1h", "2026-05")


def spec(task: SynthTask) -> tuple[dict, dict]:
    return ({iv.name: iv.seconds for iv in task.intervals},
            {vb.name: (vb.seconds, vb.weight) for vb in task.vol_blocks})


def gbm(rng, shape, sigma, p0=100.0):
    lr = rng.normal(-0.5 * sigma**2, sigma, size=shape[:-1] + (shape[-1] - 1,))
    return p0 * np.exp(np.concatenate([np.zeros(shape[:-1] + (1,)), np.cumsum(lr, axis=-1)], axis=-1))


def stochastic_vol(rng, shape, sigma, p0=100.0):
    """Log-normal stochastic volatility: each step's sigma follows a mean-reverting AR(1) in logs."""
    n = shape[-1] - 1
    lv = np.zeros(shape[:-1] + (n,))
    z = rng.normal(0, 0.35, lv.shape)
    for i in range(1, n):
        lv[..., i] = 0.9 * lv[..., i - 1] + z[..., i]
    s = sigma * np.exp(lv)
    lr = rng.normal(0, 1, lv.shape) * s - 0.5 * s**2
    return p0 * np.exp(np.concatenate([np.zeros(shape[:-1] + (1,)), np.cumsum(lr, axis=-1)], axis=-1))


def random_cases(n_cases: int = 60, seed: int = 7):
    """Forecasts of the 1h task (2026-09) with varied truth, paths and realised gaps."""
    rng = np.random.default_rng(seed)
    cases = []
    for c in range(n_cases):
        m = int(rng.choice([20, 57, 100]))
        sig = float(rng.choice([4e-4, 1e-3, 3e-3]))
        sim = (gbm if c % 2 else stochastic_vol)(rng, (m, 61), sig * rng.uniform(0.5, 2.0))
        real = (stochastic_vol if c % 3 == 0 else gbm)(rng, (61,), sig)
        kind = c % 6
        if kind == 1:  # scattered missing minutes
            real[rng.choice(np.arange(1, 61), size=int(rng.integers(1, 8)), replace=False)] = np.nan
        elif kind == 2:  # a 5-min block with one observed return, another with none
            real[11:14] = np.nan  # returns 10..13 NaN: block 2 (returns 10..14) keeps only return 14
            real[21:26] = np.nan  # block 4 (returns 20..24) all NaN
        elif kind == 3:  # the final realised price missing: only the abs terms go
            real[-1] = np.nan
        elif kind == 4:  # a long hole: whole 15-min blocks skipped, the 60-min block still scored
            real[3:40] = np.nan
        if c == 5:
            sim[3, 17] = 0.0  # a zero price: the price pass is -1 and nothing is added
        cases.append((sim, real))
    return cases


CASES = random_cases()


def reference(sim, real, task=V09):
    ivs, vbs = spec(task)
    return reference_score(sim, real, task.step_seconds, ivs, vbs)


def test_presets_carry_the_blocks():
    assert [(vb.name, vb.seconds) for vb in V09.vol_blocks] == [("vol_60min", 3600), ("vol_15min", 900),
                                                               ("vol_5min", 300)]
    assert [vb.weight for vb in V09.vol_blocks] == pytest.approx([5.25 / 3, 5.25 / 12, 5.25 / 36], rel=1e-15)
    assert V09.n_terms() == 138 and V05.n_terms() == 121 and not V05.vol_blocks
    assert TASKS["1h"] == V09 and get_task("24h", "2026-09").n_terms() == 345
    assert SynthTask.from_dict(V09.to_dict()) == V09


def test_hand_computed_case():
    """3 paths, 7 points, one block size of 3 steps (two blocks), weight 2; returns in bps chosen
    so the standard deviations are round: by hand, not by any code under test."""
    rets = {"A": [10, 20, 30, 0, 0, 30], "B": [0, 0, 0, 10, -10, 0], "C": [20, -20, 0, 20, 20, 20]}
    paths = np.array([100 * np.cumprod([1.0] + [1 + r / 1e4 for r in rr]) for rr in rets.values()])
    real = 100 * np.cumprod([1.0] + [1 + r / 1e4 for r in [0, 10, 20, 10, 10, -20]])
    vol = SynthTask.custom("tiny", 60, 7, {"6min_abs": 360}, vol_blocks=[VolBlock("vol_3min", 180, 2.0)])
    price_only = SynthTask.custom("tiny", 60, 7, {"6min_abs": 360})
    # block 1: sims A {10,20,30} -> 10, B {0,0,0} -> 0, C {20,-20,0} -> 20; realised {0,10,20} -> 10
    # CRPS = mean|x - 10| - sum_ij|x_i - x_j| / (2 * 9) = 20/3 - 80/18 = 20/9
    c1 = 20 / 9
    # block 2: A {0,0,30} -> sqrt(300), B {10,-10,0} -> 10, C {20,20,20} -> 0; realised {10,10,-20} -> sqrt(300)
    s = math.sqrt(300)
    c2 = (0 + (s - 10) + s) / 3 - 2 * ((s - 10) + s + 10) / 18
    r = score_paths(paths, real, vol)
    base = score_paths(paths, real, price_only).total
    iv = r.intervals["vol_3min"]
    assert iv.kind == "vol" and iv.weight == 2.0 and iv.steps == 3 and iv.n_possible == 2
    np.testing.assert_allclose(iv.terms, [2 * c1, 2 * c2], rtol=1e-9)
    np.testing.assert_allclose(iv.crps, [c1, c2], rtol=1e-9)
    assert r.total == pytest.approx(base + 2 * (c1 + c2), rel=1e-12)
    assert r.to_dict()["intervals"]["vol_3min"]["crps_total"] == pytest.approx(c1 + c2, rel=1e-9)
    # realised point 5 missing: returns 4 and 5 are NaN, block 2 keeps one return and is skipped
    real2 = real.copy()
    real2[5] = np.nan
    r2 = score_paths(paths, real2, vol)
    assert r2.intervals["vol_3min"].positions.tolist() == [0]
    np.testing.assert_allclose(r2.intervals["vol_3min"].terms, [2 * c1], rtol=1e-9)
    # the final realised price missing touches only the last return: block 2 has 2 returns left
    real3 = real.copy()
    real3[6] = np.nan
    r3 = score_paths(paths, real3, vol)
    # the simulated block volatilities stay {sqrt(300), 10, 0}; realised {10, 10} -> 0:
    # CRPS = (s + 10 + 0) / 3 - 2 * (|s - 10| + s + 10) / 18
    c2b = (s + 10) / 3 - 2 * ((s - 10) + s + 10) / 18
    np.testing.assert_allclose(r3.intervals["vol_3min"].terms, [2 * c1, 2 * c2b], rtol=1e-9)
    assert "6min_abs" in r3.intervals and r3.intervals["6min_abs"].terms.size == 0
    np.testing.assert_allclose(score_batch(paths[None], real2[None], vol).result(0).intervals["vol_3min"].terms,
                               [2 * c1], rtol=1e-9)
    assert reference_vol_score(paths, real, 60, {"v": (180, 2.0)}) == pytest.approx(2 * (c1 + c2), rel=1e-9)


def test_block_vols_skips_blocks_with_fewer_than_two_returns():
    p = np.array([100.0, 101, np.nan, 102, 103, np.nan, np.nan, 104, 105, 106, 107])  # 10 returns
    v = block_vols(p, 3)  # blocks of returns 0-2, 3-5, 6-8; return 9 dropped
    r = np.diff(p) / p[:-1] * 1e4
    assert np.isnan(v[0])  # return 0 observed, 1 and 2 touch the NaN at point 2: one return
    assert np.isnan(v[1])  # return 3 observed, 4 and 5 touch NaN points: one return
    assert v[2] == pytest.approx(np.std(r[7:9], ddof=1), rel=1e-14)  # return 6 NaN, 7 and 8 observed
    assert v.shape == (3,)


def test_exact_batched_torch_equal_the_reference():
    refs, exact = [], []
    for sim, real in CASES:
        refs.append(reference(sim, real))
        exact.append(score_paths(sim, real, V09).total)
    refs, exact = np.array(refs), np.array(exact)
    assert refs[5] == -1.0 and exact[5] == -1.0
    assert (refs[np.arange(len(refs)) != 5] > 0).all()
    np.testing.assert_allclose(exact, refs, rtol=1e-12)
    # the vol term is really there: the reference without blocks differs
    ivs, _ = spec(V09)
    price = np.array([reference_score(s, r, 60, ivs) for s, r in CASES])
    assert (refs[np.arange(len(refs)) != 5] > price[np.arange(len(refs)) != 5]).all()
    # batched (numba kernels, several threads and chunks), torch totals, differentiable torch: by path count
    for m in (20, 57, 100):
        idx = [i for i, (s, _) in enumerate(CASES) if s.shape[0] == m]
        p = np.stack([CASES[i][0] for i in idx])
        r = np.stack([CASES[i][1] for i in idx])
        sb = score_batch(p, r, V09, threads=2)
        np.testing.assert_allclose(sb.totals, refs[idx], rtol=1e-12)
        np.testing.assert_allclose(score_totals_torch(p, r, V09, device="cpu", chunk_values=m * 61 * 3),
                                   refs[idx], rtol=1e-12)
        ok = [j for j, i in enumerate(idx) if i != 5]
        lt = synth_loss_torch(torch.tensor(p[ok]), torch.tensor(r[ok]), V09).numpy()
        np.testing.assert_allclose(lt, refs[idx][ok], rtol=1e-10)
        for j, i in enumerate(idx):  # batch breakdown == exact breakdown, three vol sizes beside the prices
            s = score_paths(*CASES[i], V09)
            bj = sb.result(j)
            assert list(bj.intervals) == list(s.intervals)
            for name, iv in s.intervals.items():
                np.testing.assert_allclose(bj.intervals[name].terms, iv.terms, rtol=1e-12, atol=1e-12)
                assert bj.intervals[name].positions.tolist() == iv.positions.tolist()
                assert bj.intervals[name].kind == iv.kind and bj.intervals[name].weight == iv.weight
            if s.valid:
                assert sum(s.breakdown().values()) == pytest.approx(s.total, rel=1e-13)
                assert [k for k, v in s.intervals.items() if v.kind == "vol"] == ["vol_60min", "vol_15min", "vol_5min"]
            assert bj.n_terms == s.n_terms


def test_skipped_blocks_and_counts():
    sim, real = CASES[2]  # kind 2: one 5-min block with a single return, one with none
    r = score_paths(sim, real, V09)
    assert r.intervals["vol_5min"].positions.tolist() == [0, 1, 3, 5, 6, 7, 8, 9, 10, 11]
    assert r.intervals["vol_15min"].positions.tolist() == [0, 1, 2, 3]
    assert r.intervals["vol_5min"].n_possible == 12
    sim4, real4 = CASES[4]  # kind 4: prices 3..39 missing -> returns 2..39 NaN
    r4 = score_paths(sim4, real4, V09)
    # returns 2..39 NaN: 15-min block 0 keeps returns 0 and 1, block 2 returns 40..44
    assert r4.intervals["vol_15min"].positions.tolist() == [0, 2, 3]
    assert r4.intervals["vol_5min"].positions.tolist() == [0, 8, 9, 10, 11]
    assert r4.intervals["vol_60min"].positions.tolist() == [0]
    b = score_batch(np.stack([sim, sim]), np.stack([real, np.full(61, np.nan)]), V09)
    assert np.isnan(b.terms["vol_60min"][1]).all() and b.totals[1] == 0.0
    assert b.terms["vol_5min"].shape == (2, 12) and b.terms["vol_60min"].shape == (2, 1)


def test_fine_model_grid_is_subsampled_to_the_task_step():
    rng = np.random.default_rng(3)
    fine = gbm(rng, (3, 40, 121), 7e-4)  # 30-second paths over the hour
    real_f = gbm(rng, (3, 121), 7e-4)
    real_f[1, 33] = np.nan
    coarse = score_batch(fine[:, :, ::2], real_f[:, ::2], V09).totals
    np.testing.assert_allclose(score_batch(fine, real_f, V09, step_seconds=30).totals, coarse, rtol=1e-12)
    np.testing.assert_allclose(score_paths(fine[0], real_f[0], V09, step_seconds=30).total, coarse[0], rtol=1e-12)
    lf = synth_loss_torch(torch.tensor(fine), torch.tensor(real_f), V09, step_seconds=30).numpy()
    np.testing.assert_allclose(lf, coarse, rtol=1e-10)
    # a custom task whose price intervals fit a 2-minute grid, but the vol term needs 1-minute returns
    t = SynthTask.custom("c", 60, 61, {"60min_abs": 3600}, vol_blocks=[VolBlock("v", 600, 1.0)])
    with pytest.raises(SpecError, match="volatility"):
        synth_loss_torch(torch.tensor(fine[:, :, ::4]), torch.tensor(real_f[:, ::4]), t, step_seconds=120)
    with pytest.raises(SpecError, match="volatility"):
        score_batch(fine[:, :, ::4], real_f[:, ::4], t, step_seconds=120)


def test_torch_gradients_flow_through_the_vol_term():
    rng = np.random.default_rng(5)
    p0 = stochastic_vol(rng, (2, 64, 61), 1e-3)
    r = gbm(rng, (2, 61), 1e-3)
    r[0, 20:24] = np.nan
    vol_only = SynthTask.custom("v", 60, 61, {"0_1min_gaps": 60}, vol_blocks=V09.vol_blocks)
    no_vol = SynthTask.custom("v", 60, 61, {"0_1min_gaps": 60})
    p = torch.tensor(p0, requires_grad=True)
    term = (synth_loss_torch(p, torch.tensor(r), vol_only) - synth_loss_torch(p, torch.tensor(r), no_vol)).sum()
    term.backward()
    g = p.grad
    assert torch.isfinite(g).all() and g[:, :, 1:].abs().sum() > 0
    # analytic check of one direction by finite differences (float64)
    d = torch.tensor(rng.normal(0, 1e-3, p0.shape))
    f = lambda x: (synth_loss_torch(x, torch.tensor(r), vol_only)  # noqa: E731
                   - synth_loss_torch(x, torch.tensor(r), no_vol)).sum()
    eps = 1e-4
    with torch.no_grad():
        fd = (f(torch.tensor(p0) + eps * d) - f(torch.tensor(p0) - eps * d)) / (2 * eps)
    assert float((g * d).sum()) == pytest.approx(float(fd), rel=1e-4, abs=1e-8)
    # the almost-fair estimator is used in the vol terms too, and a flat path keeps gradients finite
    flat = p0.copy()
    flat[:, 0, :] = 100.0
    pf = torch.tensor(flat, requires_grad=True)
    lf = synth_loss_torch(pf, torch.tensor(r), V09, fair=0.95)
    assert not torch.allclose(lf, synth_loss_torch(pf, torch.tensor(r), V09))
    lf.sum().backward()
    assert torch.isfinite(pf.grad).all()
    # float32, as in training
    l32 = synth_loss_torch(torch.tensor(p0, dtype=torch.float32), torch.tensor(r, dtype=torch.float32), V09)
    np.testing.assert_allclose(l32.numpy(), score_batch(p0, r, V09).totals, rtol=1e-3)


def test_2026_05_scores_are_unchanged():
    """No vol blocks -> the old code path: totals and terms are exactly the price part of 2026-09."""
    rng = np.random.default_rng(9)
    p = gbm(rng, (4, 50, 61), 1e-3)
    r = gbm(rng, (4, 61), 1e-3)
    r[1, 9] = np.nan
    r[2, -1] = np.nan
    ivs, _ = spec(V05)
    old = score_batch(p, r, "1h", validator="2026-05")
    new = score_batch(p, r, "1h")
    assert set(old.terms) == {iv.name for iv in V05.intervals} and old.n_terms.max() == 121
    for name in old.terms:
        np.testing.assert_array_equal(old.terms[name], new.terms[name])
    for i in range(4):
        s_old = score_paths(p[i], r[i], V05)
        s_new = score_paths(p[i], r[i], "1h", validator="2026-09")
        assert s_old.total == pytest.approx(reference_score(p[i], r[i], 60, ivs), rel=1e-12)
        total = 0.0
        for name in s_old.intervals:
            np.testing.assert_array_equal(s_old.intervals[name].terms, s_new.intervals[name].terms)
            total += float(s_new.intervals[name].terms.sum())
        assert s_old.total == total  # bit for bit: the price pass is the same code
        assert "weight" not in s_old.to_dict()["intervals"]["1min"]
        assert s_new.total > s_old.total and s_new.n_terms > s_old.n_terms
    torch_old = synth_loss_torch(torch.tensor(p), torch.tensor(r), "1h", validator="2026-05").numpy()
    np.testing.assert_allclose(torch_old, old.totals, rtol=1e-12)
    np.testing.assert_allclose(score_totals_torch(p, r, "1h", device="cpu", validator="2026-05"), old.totals,
                               rtol=1e-12)


def test_training_config_carries_the_validator_and_the_loss_gets_the_vol_term():
    from synthwb.train.config import TrainConfig
    from synthwb.train.loop import check_synth_grid, target_task
    from synthwb.train.losses import objective

    cfg = TrainConfig.parse({"synth_task": "1h"})
    assert cfg.validator == "2026-09" and cfg.model_dump(mode="json")["validator"] == "2026-09"  # -> run.json
    old = TrainConfig.parse({"synth_task": "1h", "validator": "2026-05"})
    with pytest.raises(SpecError, match="validator"):
        TrainConfig.parse({"validator": "2025-01"})
    assert target_task(cfg, 60, 60)[0].vol_blocks == V09.vol_blocks
    assert target_task(old, 60, 60)[0].vol_blocks == ()
    rng = np.random.default_rng(2)
    p = torch.tensor(stochastic_vol(rng, (2, 32, 61), 1e-3))
    y = torch.tensor(gbm(rng, (2, 61), 1e-3))
    last = y[:, 0]
    new_obj = objective(p, y, last, cfg.model_copy(update={"alpha": 0.0}), 60)
    old_obj = objective(p, y, last, old.model_copy(update={"alpha": 0.0}), 60)
    want_new = score_batch(p.numpy(), y.numpy(), V09).totals / 138
    want_old = score_batch(p.numpy(), y.numpy(), V05).totals / 121
    np.testing.assert_allclose(new_obj.numpy(), want_new, rtol=1e-4)  # objective runs in float32
    np.testing.assert_allclose(old_obj.numpy(), want_old, rtol=1e-4)
    with pytest.raises(SpecError, match="volatility"):
        check_synth_grid(SynthTask.custom("c", 60, 61, {"60min_abs": 3600}, vol_blocks=[VolBlock("v", 600, 1.0)]), 120)
