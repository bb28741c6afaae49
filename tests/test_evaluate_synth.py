"""The Synth-style scorer (DESIGN.md §5): hand-made cases, a validator-style reference loop,
batch == single, torch loss == numpy scorer, timestamp alignment, reference levels."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
import torch

from synthwb.core.errors import SpecError
from synthwb.scoring.reference import reference_score
from synthwb.scoring.synth import (
    TASKS,
    Interval,
    SynthTask,
    align_realised,
    align_realised_batch,
    get_task,
    score_batch,
    score_paths,
    synth_loss_torch,
)


def crps2(a: float, b: float, y: float) -> float:
    """CRPS of the two-member ensemble {a, b}: (|a-y| + |b-y|)/2 - |a-b|/4 (by hand)."""
    return (abs(a - y) + abs(b - y)) / 2 - abs(a - b) / 4


# two paths on a 1-minute grid of 5 points, realised with a hole at point 3
A = [100.0, 101.0, 102.0, 103.0, 104.0]
B = [100.0, 99.0, 98.0, 97.0, 96.0]
PATHS = np.array([A, B])
REAL = np.array([100.0, 100.0, 101.0, np.nan, 99.0])


def tiny(intervals: dict) -> SynthTask:
    return SynthTask.custom("tiny", 60, 5, intervals)


@pytest.mark.parametrize("version,n_1h", [("2026-05", 121), ("2026-09", 138)])
def test_task_presets_term_counts(version, n_1h):
    assert get_task("24h", version).n_terms() == 345
    assert get_task("1h", version).n_terms() == n_1h  # 2026-09: + 1 + 4 + 12 volatility blocks
    assert get_task("1h", version).n_vol_terms() == n_1h - 121
    assert TASKS["1h"] == get_task("1h", "2026-09")  # the default is the newest
    assert [iv.kind for iv in TASKS["24h"].intervals] == ["ordinary"] * 3 + ["abs"]
    h = TASKS["1h"]
    assert sum(iv.kind == "gaps" for iv in h.intervals) == 12
    assert h.step_seconds == 60 and h.n_points == 61 and TASKS["24h"].n_points == 289
    assert SynthTask.from_dict(h.to_dict()) == h


def test_ordinary_interval_by_hand():
    r = score_paths(PATHS, REAL, tiny({"2min": 120}))
    t0 = crps2(200.0, -200.0, 100.0)  # = 100
    assert t0 == pytest.approx(100.0)
    t1 = crps2((104 - 102) / 102 * 1e4, (96 - 98) / 98 * 1e4, (99 - 101) / 101 * 1e4)
    iv = r.intervals["2min"]
    np.testing.assert_allclose(iv.terms, [t0, t1], rtol=1e-12)
    assert r.total == pytest.approx(t0 + t1, rel=1e-12)
    assert r.valid and r.n_terms == 2


def test_nan_block_is_skipped():
    r = score_paths(PATHS, REAL, tiny({"1min": 60}))
    iv = r.intervals["1min"]
    # steps 0->1 and 1->2 are observed; 2->3 and 3->4 touch the NaN at point 3
    want = [crps2(100.0, -100.0, 0.0), crps2((102 - 101) / 101 * 1e4, (98 - 99) / 99 * 1e4, 100.0)]
    np.testing.assert_allclose(iv.terms, want, rtol=1e-12)
    assert list(iv.positions) == [0, 1] and iv.n_possible == 4


def test_abs_interval_by_hand():
    r = score_paths(PATHS, REAL, tiny({"4min_abs": 240}))
    # levels {104, 96} against 99: (5 + 3)/2 - 8/4 = 2, divided by final realised 99, x 1e4
    assert r.total == pytest.approx(2 / 99 * 1e4, rel=1e-12)
    # a 2-minute abs interval: levels at points 2 and 4, both divided by the final price
    r2 = score_paths(PATHS, REAL, tiny({"2min_abs": 120}))
    want = (crps2(102, 98, 101) + crps2(104, 96, 99)) / 99 * 1e4
    assert r2.total == pytest.approx(want, rel=1e-12)
    # final realised price missing -> abs terms skipped
    real = REAL.copy()
    real[-1] = np.nan
    assert score_paths(PATHS, real, tiny({"2min_abs": 120})).n_terms == 0


def test_abs_stride_shrinks_like_the_validator():
    # 3 points, abs interval of 4 steps: only t0 on the stride -> stride 3 -> still only t0 -> 2
    task = SynthTask.custom("short", 60, 3, {"4min_abs": 240})
    r = score_paths(PATHS[:, :3], REAL[:3], task)
    assert r.total == pytest.approx(crps2(102, 98, 101) / 101 * 1e4, rel=1e-12)


def test_gaps_interval_scores_first_change_only():
    r = score_paths(PATHS, REAL, tiny({"0_2min_gaps": 120, "0_1min_gaps": 60}))
    assert r.intervals["0_2min_gaps"].terms.tolist() == pytest.approx([100.0])
    assert r.intervals["0_1min_gaps"].terms.tolist() == pytest.approx([crps2(100.0, -100.0, 0.0)])
    assert r.n_terms == 2


def test_explicit_kind_overrides_name():
    assert Interval("weird", 120, "gaps").kind == "gaps"
    assert Interval("x_abs", 60).kind == "abs"
    with pytest.raises(SpecError):
        Interval("x", 60, "bogus")
    with pytest.raises(SpecError, match="multiple"):
        SynthTask.custom("bad", 60, 5, {"90s": 90})


@pytest.mark.parametrize("bad,reason", [(0.0, "zero"), (np.nan, "NaN"), (np.inf, "infinite")])
def test_invalid_forecasts(bad, reason):
    p = PATHS.copy()
    p[1, 3] = bad
    r = score_paths(p, REAL, tiny({"1min": 60}))
    assert not r.valid and r.total == -1.0 and reason in r.reason
    b = score_batch(np.stack([PATHS, p]), np.stack([REAL, REAL]), tiny({"1min": 60}))
    assert b.valid.tolist() == [True, False] and b.totals[1] == -1.0 and reason in b.reasons[1]
    assert b.totals[0] == pytest.approx(score_paths(PATHS, REAL, tiny({"1min": 60})).total)


def test_wrong_shapes_raise():
    with pytest.raises(SpecError, match="289"):
        score_paths(np.ones((3, 10)), np.ones(10), "24h")
    with pytest.raises(SpecError):
        score_paths(np.ones((3, 289)), np.ones(288), "24h")
    with pytest.raises(SpecError, match="unknown task"):
        score_paths(np.ones((3, 289)), np.ones(289), "2h")


# ---------------------------------------------------------------- validator-style reference


def gbm(rng, n_paths, n_points, sigma, p0=60_000.0, batch=None):
    shape = (n_paths, n_points - 1) if batch is None else (batch, n_paths, n_points - 1)
    z = rng.normal(-0.5 * sigma**2, sigma, size=shape)
    z = np.concatenate([np.zeros(shape[:-1] + (1,)), z], axis=-1)
    return p0 * np.exp(np.cumsum(z, axis=-1))


@pytest.mark.parametrize("task_name", ["24h", "1h"])
def test_matches_reference_loop_with_nan_blocks(task_name):
    task = TASKS[task_name]
    rng = np.random.default_rng(11)
    n = task.n_points
    sim = gbm(rng, 200, n, 0.002)
    real = gbm(rng, 1, n, 0.002)[0]
    real[7:19] = np.nan  # a block of missing realised prices
    real[40] = np.nan
    intervals = {iv.name: iv.seconds for iv in task.intervals}
    vol = {vb.name: (vb.seconds, vb.weight) for vb in task.vol_blocks}
    ours = score_paths(sim, real, task)
    ref = reference_score(sim, real, task.step_seconds, intervals, vol)
    assert ours.valid and ours.total == pytest.approx(ref, rel=1e-10)
    assert ours.n_terms < task.n_terms()
    full = score_paths(sim, gbm(rng, 1, n, 0.002)[0], task)
    assert full.n_terms == task.n_terms()


def test_batch_equals_loop_of_single():
    task = TASKS["1h"]
    rng = np.random.default_rng(12)
    paths = gbm(rng, 64, task.n_points, 0.001, batch=5)
    real = gbm(rng, 5, task.n_points, 0.001)
    real[1, 30:45] = np.nan
    real[2, -1] = np.nan
    paths[3, 0, 10] = 0.0
    b = score_batch(paths, real, task)
    for i in range(5):
        s = score_paths(paths[i], real[i], task)
        assert b.totals[i] == pytest.approx(s.total, rel=1e-12)
        assert b.valid[i] == s.valid and b.n_terms[i] == s.n_terms
        bi = b.result(i)
        for name, iv in s.intervals.items():
            np.testing.assert_allclose(bi.intervals[name].terms, iv.terms, rtol=1e-12)
            assert bi.intervals[name].positions.tolist() == iv.positions.tolist()


def test_torch_loss_equals_numpy_and_has_gradients():
    task = TASKS["24h"]
    rng = np.random.default_rng(13)
    paths = gbm(rng, 50, task.n_points, 0.0015, batch=3)
    real = gbm(rng, 3, task.n_points, 0.0015)
    real[0, 100:130] = np.nan
    real[2, -1] = np.nan  # abs term skipped for forecast 2
    want = score_batch(paths, real, task).totals
    p = torch.tensor(paths, requires_grad=True)
    loss = synth_loss_torch(p, torch.tensor(real), task)
    np.testing.assert_allclose(loss.detach().numpy(), want, rtol=1e-10)
    loss.sum().backward()
    assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    # a 1-minute model grid scoring the 24h task's intervals (step divides every interval)
    fine = gbm(rng, 20, 1441, 0.0007, batch=2)
    real_f = gbm(rng, 2, 1441, 0.0007)
    coarse = score_batch(fine[:, :, ::5], real_f[:, ::5], task).totals
    lf = synth_loss_torch(torch.tensor(fine), torch.tensor(real_f), task.intervals, step_seconds=60)
    # same prices at the task's points -> same terms
    np.testing.assert_allclose(lf.numpy(), coarse, rtol=1e-10)
    with pytest.raises(SpecError):
        synth_loss_torch(torch.tensor(fine), torch.tensor(real_f), TASKS["1h"], step_seconds=120)


def test_align_by_timestamps_not_positions():
    t0 = datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
    # 1-minute data with a missing minute at t0+10min; forecast grid is 5 minutes
    ts = [t0 + timedelta(minutes=m) for m in range(0, 24 * 60 + 1) if m != 10]
    px = np.array([1000.0 + (t - t0).total_seconds() / 60 for t in ts])
    got = align_realised(pl.Series(ts), px, t0, "24h")
    assert got.shape == (289,)
    assert got[0] == 1000.0 and got[1] == 1005.0 and np.isnan(got[2]) and got[3] == 1015.0
    assert got[-1] == 1000.0 + 1440
    # t0 not on the data's grid minute -> nothing joins
    assert np.isnan(align_realised(pl.Series(ts), px, t0 + timedelta(seconds=30), "24h")).all()
    # batch, numpy datetime64 input
    npts = np.array([np.datetime64(t.replace(tzinfo=None)) for t in ts])
    b = align_realised_batch(npts, px, [t0, t0 + timedelta(hours=1)], "1h")
    assert b.shape == (2, 61) and b[1, 0] == 1060.0 and np.isnan(b[0, 10])


def test_reference_levels_of_design():
    """Calibrated GBM vs GBM truth at BTC-like volatility (50%/yr): DESIGN §5 says ~4190 (24h)
    and ~894 (1h); 2x too wide costs ~16%. Also the closed form: a calibrated Gaussian
    ensemble scores sigma_k/sqrt(pi) per term (plus a 1/(2n) finite-ensemble excess)."""
    rng = np.random.default_rng(2024)
    year = 365 * 86400
    # forecasts averaged: enough for a ~1.5% standard error of the mean total
    for name, design, b in (("24h", 4190.0, 64), ("1h", 894.0, 320)):
        task = get_task(name, "2026-05")  # the price CRPS (2026-09 adds the 1h volatility term)
        sig = 0.5 * np.sqrt(task.step_seconds / year)
        n_paths = 250
        truth = gbm(rng, b, task.n_points, sig)
        good = score_batch(gbm(rng, n_paths, task.n_points, sig, batch=b), truth, task).totals.mean()
        wide = score_batch(gbm(rng, n_paths, task.n_points, 2 * sig, batch=b), truth, task).totals.mean()
        # closed form: sum over terms of sigma*sqrt(k)*1e4/sqrt(pi)
        analytic = 0.0
        for iv in task.intervals:
            k = iv.seconds // task.step_seconds
            m = 1 if iv.kind == "gaps" else (task.n_points - 1) // k
            analytic += m * sig * np.sqrt(k) * 1e4 / np.sqrt(np.pi)
        analytic *= 1 + 1 / (2 * n_paths)
        assert good == pytest.approx(analytic, rel=0.05), (name, good, analytic)
        assert good == pytest.approx(design, rel=0.10), (name, good, design)
        assert 1.10 < wide / good < 1.23, (name, wide / good)
