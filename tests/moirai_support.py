"""Fixtures of the Moirai tests: a tiny random Moirai checkpoint (d_model 64, 2 layers, patch
sizes 8..128, written by save_pretrained) and a saved 5-minute feature set of the demo lake;
helpers that score a Moirai run from the CLI beside a tiny path model."""
from __future__ import annotations

import json

import numpy as np
import pytest
from train_support import make_featureset


@pytest.fixture(scope="session", name="tiny_ckpt")
def tiny_ckpt_fixture(tmp_path_factory):
    from synthwb.moirai.checkpoints import make_tiny_checkpoint

    return make_tiny_checkpoint(tmp_path_factory.mktemp("moirai") / "tiny", seed=0)


@pytest.fixture(scope="session", name="fs5")
def fs5_fixture(tmp_path_factory, demo_lake):
    """(feature set, its store): BTC 5-minute bars, OHLCV + logret_1 + rsi_14."""
    store = tmp_path_factory.mktemp("moirai_store")
    return make_featureset(demo_lake, store, name="btc5", freq="5min"), store


def btc5_bars(demo_lake):
    from synthwb.data.lake import read_bars
    from synthwb.data.schema import Selection

    return read_bars(Selection("crypto", "BTC", "5min"), root=demo_lake)


# the 1-hour task on 5-minute steps the Moirai tests score beside a path model
TASK = {"name": "1h-5min", "step_seconds": 300, "n_points": 13,
        "intervals": [{"name": "5min", "seconds": 300}, {"name": "30min", "seconds": 1800},
                      {"name": "60min_abs", "seconds": 3600}]}


def path_run(name: str, store, demo_lake) -> str:
    """The run id of a tiny path model (dlinear-gbm, 2 steps) trained on btc5 for :data:`TASK`."""
    from train_support import tiny_config

    from synthwb.train.loop import train

    return train(name, "btc5", "dlinear-gbm", tiny_config(max_steps=2, synth_task=TASK), store=store,
                 root=demo_lake, context=32, horizon=12).run_id


def cli_backtest_and_compare(capsys, store, demo_lake, tmp_path, run: str, others: list[str],
                             baselines: tuple[str, ...] = ("gbm",)) -> None:
    """``backtest --run RUN --baseline gbm``, then ``compare --runs RUN,OTHERS --baselines ...
    --benchmark gbm``, on 4 origins of :data:`TASK`: every model is scored on all 4 (RUN with no
    invalid response) and every mean is finite."""
    from synthwb.cli import main

    task = tmp_path / "task.json"
    task.write_text(json.dumps(TASK))
    common = ["--store", str(store), "--root", str(demo_lake), "--task", str(task), "--start", "2024-01-12",
              "--end", "2024-01-14", "--origins", "4", "--n-paths", "64", "--json"]
    assert main(["backtest", "--classical", "none", "--run", run, "--baseline", "gbm", *common]) == 0
    doc = json.loads(capsys.readouterr().out)
    models = {r["model"]: r for r in doc["summary"]}
    assert set(models) == {run, "gbm"} and models[run]["n_origins"] == 4 and models[run]["n_invalid"] == 0
    assert main(["compare", "--classical", "none", "--runs", ",".join([run, *others]), "--baselines", ",".join(baselines),
                 "--benchmark", "gbm", *common]) == 0
    board = {r["model"]: r for r in json.loads(capsys.readouterr().out)["leaderboard"]}
    assert set(board) == {run, *others, *baselines}
    assert all(board[m]["n_origins"] == 4 and np.isfinite(board[m]["mean"]) for m in board)


def moirai_page_preview(at, context: int, paths: int, horizon: int | None = None) -> None:
    """On the Moirai page (AppTest ``at``), set the context, the horizon (when given) and the
    preview's paths, click Preview: the fan chart's caption shows, with no exception or error."""
    at.number_input(key="mo_context").set_value(context)
    if horizon is not None:
        at.number_input(key="mo_horizon").set_value(horizon)
    at.number_input(key="mo_prev_paths").set_value(paths)
    at.button(key="mo_preview").click()
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("median at the horizon" in c.value for c in at.caption)
