"""The batched torch scorer equals the validator's reference (properscoring) and score_batch."""
from __future__ import annotations

import numpy as np
import pytest

from synthwb.scoring.batched import score_totals_torch
from synthwb.scoring.reference import reference_score
from synthwb.scoring.synth import TASKS, score_batch


@pytest.mark.parametrize("name", ["24h", "1h"])
def test_torch_totals_equal_the_reference(name):
    task = TASKS[name]
    rng = np.random.default_rng(4)
    b, n = 4, 50
    p = 100 * np.exp(np.cumsum(rng.normal(0, 2e-3, (b, n, task.n_points)), axis=2))
    r = 100 * np.exp(np.cumsum(rng.normal(0, 2e-3, (b, task.n_points)), axis=1))
    r[1, 7] = np.nan  # a missing realised minute: its terms are skipped
    p[2, 3, 5] = 0.0  # a zero price: invalid, -1
    p[3, 0, 9] = np.nan  # NaN: invalid, -1
    got = score_totals_torch(p, r, task, device="cpu", chunk_values=n * task.n_points * 3)  # two chunks
    intervals = {iv.name: iv.seconds for iv in task.intervals}
    vol = {vb.name: (vb.seconds, vb.weight) for vb in task.vol_blocks}  # 1h under 2026-09
    want = np.array([reference_score(p[i], r[i], task.step_seconds, intervals, vol) for i in range(b)])
    assert got[2] == -1.0 and got[3] == -1.0 and want[2] == -1.0
    np.testing.assert_allclose(got[:2], want[:2], rtol=1e-9)
    np.testing.assert_allclose(got, score_batch(p, r, task).totals, rtol=1e-12)


@pytest.mark.parametrize("name", ["24h", "1h"])
def test_threaded_score_batch_equals_the_reference_term_by_term(name):
    """score_batch's compiled kernels, on several threads and many chunks, give the validator's
    totals (properscoring, term by term) and the same invalid verdicts as one thread."""
    task = TASKS[name]
    rng = np.random.default_rng(11)
    b, n = 9, 1000  # 24h: one forecast per chunk (~1.4 M values), so 9 chunks on threads
    p = 50 * np.exp(np.cumsum(rng.normal(0, 3e-3, (b, n, task.n_points)), axis=2))
    r = 50 * np.exp(np.cumsum(rng.normal(0, 3e-3, (b, task.n_points)), axis=1))
    r[1, 4] = np.nan  # a missing realised point
    r[5, -1] = np.nan  # the final price missing: abs terms are skipped
    p[2, 9, 3] = 0.0
    p[3, 0, 1] = np.inf
    p[4, 7, 7] = np.nan
    many = score_batch(p, r, task, threads=3)
    one = score_batch(p, r, task, threads=1)
    intervals = {iv.name: iv.seconds for iv in task.intervals}
    vol = {vb.name: (vb.seconds, vb.weight) for vb in task.vol_blocks}  # 1h under 2026-09
    ok = [0, 1, 5, 6, 7, 8]
    want = np.array([reference_score(p[i], r[i], task.step_seconds, intervals, vol) for i in ok])
    np.testing.assert_allclose(many.totals[ok], want, rtol=1e-12)
    np.testing.assert_array_equal(many.totals, one.totals)
    assert many.reasons[2:5] == ["zero price in forecast", "infinite value in forecast", "NaN in forecast"]
    assert list(many.totals[2:5]) == [-1.0, -1.0, -1.0] and not many.valid[2:5].any()
    abs_name = next(iv.name for iv in task.intervals if iv.kind == "abs")
    assert np.isnan(many.terms[abs_name][5]).all() and np.isfinite(many.terms[abs_name][6]).all()
