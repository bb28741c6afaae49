"""Fixtures of the Moirai tests: a tiny random Moirai checkpoint (d_model 64, 2 layers, patch
sizes 8..128, written by save_pretrained) and a saved 5-minute feature set of the demo lake."""
from __future__ import annotations

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
