"""Pooled training over symbols (``TrainConfig.pool``, ``train --pool``): a real tiny run on the
demo lake's BTC with ETH and SOL windows added, the date cut that keeps other symbols' later bars
out, the window bookkeeping of a pooled batch, and every refusal before a run folder exists."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest
import torch
from train_support import CONTEXT, HORIZON, tiny_config, tiny_features

from synthwb.core.errors import SpecError
from synthwb.data.schema import Selection
from synthwb.features.datasets import SplitSpec
from synthwb.features.featureset import create_featureset, save_featureset

STEP_S = 15 * 60


def _dated(root, store, name, symbol, val_start, freq="15min", features=None):
    fs = create_featureset(name, Selection("crypto", symbol, freq), features or tiny_features(freq),
                           SplitSpec(val_start=val_start, test_start=val_start + (datetime(2024, 1, 15, tzinfo=UTC)
                                                                                  - datetime(2024, 1, 13, tzinfo=UTC))),
                           root=root)
    save_featureset(fs, store)
    return fs


@pytest.fixture
def pooled_sets(demo_lake, tmp_path):
    store = tmp_path / "store"
    vs = datetime(2024, 1, 13, tzinfo=UTC)
    for name, sym in (("btc", "BTC"), ("eth", "ETH"), ("sol", "SOL")):
        _dated(demo_lake, store, name, sym, vs)
    return demo_lake, store, vs


def test_a_pooled_run_trains_on_every_symbols_windows_up_to_its_own_training_end(pooled_sets):
    from synthwb.store import runs
    from synthwb.train import train
    from synthwb.train.data import WindowDataset

    root, store, val_start = pooled_sets
    cfg = tiny_config(max_steps=3, pool=["eth", "sol"])
    info = train("pooled", "btc", "dlinear-gbm", cfg, store=store, root=root, context=CONTEXT, horizon=HORIZON)
    assert info.status == "finished", info.error
    rec = runs.load_run(info.run_id, store).info
    assert rec["config"]["pool"] == ["eth", "sol"]
    pool = {p["featureset"]: p["windows"] for p in rec["pool"]}
    assert list(pool) == ["btc", "eth", "sol"]
    # windows counted independently: every window of each series whose origin and whole future lie before
    # the first validation bar (stride 1), here from the feature frame's own timestamps
    from synthwb.features.featureset import load_featureset

    for name in ("eth", "sol"):
        fs = load_featureset(name, store)
        ds = WindowDataset(fs.windows("all", CONTEXT, HORIZON, 1, root=root))
        t0 = ds.t0[ds.index].numpy()
        expected = int((t0 + HORIZON * STEP_S <= val_start.timestamp()).sum())
        assert pool[name] == expected > 100
    assert rec["n_train_windows"] == sum(pool.values())
    assert pool["btc"] == pool["eth"]  # same demo calendar, same cut


def test_a_pooled_batch_is_the_members_windows_in_the_order_asked(pooled_sets):
    from synthwb.features.featureset import load_featureset
    from synthwb.train.data import PooledWindows, WindowDataset

    root, store, _ = pooled_sets
    a = WindowDataset(load_featureset("btc", store).windows("train", CONTEXT, HORIZON, 1, root=root))
    b = WindowDataset(load_featureset("eth", store).windows("train", CONTEXT, HORIZON, 1, root=root))
    pooled = PooledWindows([a, b], ["btc", "eth"])
    assert len(pooled) == len(a) + len(b)
    idx = [len(a) + 5, 0, len(a) - 1, len(a), 7]
    got = pooled[idx]
    want = [b[[5]], a[[0]], a[[len(a) - 1]], b[[0]], a[[7]]]
    for field in ("x", "last_close", "future", "t0"):
        expect = torch.cat([getattr(w, field) for w in want])
        assert torch.equal(getattr(got, field), expect), field
    # one epoch's batches cover every window exactly once
    seen = torch.cat([bt.t0 for bt in pooled.batches(64)])
    assert len(seen) == len(pooled)


def test_the_date_cut_keeps_windows_whose_future_ends_by_it(pooled_sets):
    from synthwb.features.featureset import load_featureset
    from synthwb.train.data import WindowDataset, ending_by, future_end

    root, store, _ = pooled_sets
    ds = WindowDataset(load_featureset("eth", store).windows("all", CONTEXT, HORIZON, 1, root=root))
    t0 = ds.t0[ds.index].numpy().copy()
    cut = float(np.quantile(t0, 0.4)) + HORIZON * STEP_S
    kept = ending_by(ds, cut, HORIZON * STEP_S)
    assert len(kept) == int((t0 + HORIZON * STEP_S <= cut).sum())
    assert future_end(kept, HORIZON * STEP_S) <= cut


@pytest.mark.parametrize("pool, problem", [
    (["btc"], "the run's own feature set"),
    (["eth", "eth"], "twice"),
    (["btc2"], "same series"),
    (["eth1h"], "1h bars"),
    (["ethfeat"], "other features"),
    (["ethlate"], "--val-start 2024-01-13T"),
    (["nosuch"], "nosuch"),
])
def test_a_pool_that_cannot_work_is_refused_before_any_run_folder(pooled_sets, pool, problem):
    from synthwb.store import runs
    from synthwb.train import train

    root, store, vs = pooled_sets
    _dated(root, store, "btc2", "BTC", vs)
    _dated(root, store, "eth1h", "ETH", vs, freq="1h", features=tiny_features("1h"))
    _dated(root, store, "ethfeat", "ETH", vs, features=tiny_features(har=True))
    _dated(root, store, "ethlate", "ETH", datetime(2024, 1, 14, tzinfo=UTC))
    before = runs.list_runs(store)
    with pytest.raises(Exception) as exc:
        train("bad", "btc", "dlinear-gbm", tiny_config(max_steps=2, pool=pool), store=store, root=root,
              context=CONTEXT, horizon=HORIZON)
    assert problem in str(exc.value)
    assert runs.list_runs(store) == before


def test_pool_from_the_command_line(pooled_sets):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root, store, _ = pooled_sets
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
           "SYNTHWB_STORE_DIR": str(store), "SYNTHWB_DATA_DIR": str(root)}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "synthwb", *args], capture_output=True, text=True, env=env,
                              timeout=600)

    r = cli("train", "--name", "cli-pool", "--features", "btc", "--preset", "dlinear-gbm", "--context", str(CONTEXT),
            "--horizon", str(HORIZON), "--loss", "crps", "--max-steps", "2", "--batch-size", "16", "--n-paths", "16",
            "--n-paths-eval", "32", "--device", "cpu", "--no-blend", "--pool", "eth,sol", "--no-progress", "--json")
    assert r.returncode == 0, r.stderr
    rec = json.loads((store / "cli-pool" / "run.json").read_text())
    assert [p["featureset"] for p in rec["pool"]] == ["btc", "eth", "sol"]
    r = cli("train", "--name", "cli-bad", "--features", "btc", "--preset", "dlinear-gbm", "--pool", "btc",
            "--no-progress")
    assert r.returncode != 0 and "own feature set" in r.stderr and "Traceback" not in r.stderr
    assert not (store / "cli-bad").exists()


def test_config_rejects_a_pool_that_is_not_a_list_of_names():
    from synthwb.train.config import TrainConfig

    with pytest.raises(SpecError, match="pool"):
        TrainConfig.parse({"pool": "eth"})
    assert TrainConfig.parse({}).pool == []

