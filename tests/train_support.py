"""Helpers for the train/store/jobs tests: a tiny saved feature set on the demo lake."""
from __future__ import annotations

from pathlib import Path

from synthwb.data.schema import Selection
from synthwb.features.featureset import create_featureset, save_featureset
from synthwb.features.registry import FeatureSpec

CONTEXT = 32
HORIZON = 8



def tiny_features(freq: str = "15min") -> FeatureSpec:
    return FeatureSpec(freq=freq, features=(
        {"name": "log_return", "params": {"periods": 1}},
        {"name": "rsi", "params": {"window": 14}},
    ))


def make_featureset(root: Path, store: Path, name: str = "tiny", symbol: str = "BTC", freq: str = "15min"):
    """A saved feature set (OHLCV + 2 features, 15-minute bars by default) of the demo lake's ``symbol``."""
    fs = create_featureset(name, Selection("crypto", symbol, freq), tiny_features(freq), root=root)
    save_featureset(fs, store)
    return fs


def tiny_config(**kw) -> dict:
    """A fast CPU config: small batches, few paths."""
    base = dict(epochs=1, batch_size=32, lr=3e-3, n_paths_train=32, n_paths_eval=64, log_every=1, loss="crps", stride=1,
                warmup_steps=2, device="cpu", max_val_batches=2, patience=0, seed=0)
    base.update(kw)
    return base
