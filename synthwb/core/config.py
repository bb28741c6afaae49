"""Where things live. Every default can be overridden by an environment variable or argument."""
from __future__ import annotations

import os
from pathlib import Path


def data_dir(root: str | os.PathLike | None = None) -> Path:
    """The OHLCV lake root: argument, else SYNTHWB_DATA_DIR, else ./data/ohlcv."""
    return Path(root or os.environ.get("SYNTHWB_DATA_DIR") or "data/ohlcv")


def store_dir(store: str | os.PathLike | None = None) -> Path:
    """The models_store root: argument, else SYNTHWB_STORE_DIR, else ./models_store."""
    return Path(store or os.environ.get("SYNTHWB_STORE_DIR") or "models_store")


def cache_dir(cache: str | os.PathLike | None = None) -> Path:
    """On-disk cache (features, datasets): argument, else SYNTHWB_CACHE_DIR, else ./.cache/synthwb."""
    return Path(cache or os.environ.get("SYNTHWB_CACHE_DIR") or ".cache/synthwb")


def featuresets_dir(store: str | os.PathLike | None = None) -> Path:
    """Saved feature sets live beside the runs: <store>/_featuresets/<name>/."""
    return store_dir(store) / "_featuresets"


def specs_dir(store: str | os.PathLike | None = None) -> Path:
    """Saved model specs live beside the runs: <store>/_specs/<name>.json."""
    return store_dir(store) / "_specs"
