"""Where things live. Every default can be overridden by an environment variable or argument."""
from __future__ import annotations

import os
from pathlib import Path

from synthwb.core.errors import SpecError
from synthwb.core.io import check_writable


def _folder(path: Path, what: str) -> Path:
    if path.exists() and not path.is_dir():
        raise SpecError(f"the {what} {str(path)!r} is a file, not a folder; give a folder")
    return path


def data_dir(root: str | os.PathLike | None = None) -> Path:
    """The OHLCV lake root: argument, else SYNTHWB_DATA_DIR, else ./data/ohlcv (a file there is refused)."""
    return _folder(Path(root or os.environ.get("SYNTHWB_DATA_DIR") or "data/ohlcv"),
                   "lake root (--root / $SYNTHWB_DATA_DIR)")


def store_dir(store: str | os.PathLike | None = None) -> Path:
    """The models_store root: argument, else SYNTHWB_STORE_DIR, else ./models_store (a file there is refused)."""
    return _folder(Path(store or os.environ.get("SYNTHWB_STORE_DIR") or "models_store"),
                   "models store (--store / $SYNTHWB_STORE_DIR)")


def writable_data_dir(root: str | os.PathLike | None = None) -> Path:
    """The lake root, checked writable before anything is computed for it (:func:`check_writable`)."""
    path = data_dir(root)
    check_writable(path, "lake root (--root / $SYNTHWB_DATA_DIR)", folder=True)
    return path


def writable_store_dir(store: str | os.PathLike | None = None) -> Path:
    """The models store, checked writable before anything is computed for it."""
    path = store_dir(store)
    check_writable(path, "models store (--store / $SYNTHWB_STORE_DIR)", folder=True)
    return path


def cache_dir(cache: str | os.PathLike | None = None) -> Path:
    """On-disk cache (features, datasets): argument, else SYNTHWB_CACHE_DIR, else ./.cache/synthwb."""
    return Path(cache or os.environ.get("SYNTHWB_CACHE_DIR") or ".cache/synthwb")


def featuresets_dir(store: str | os.PathLike | None = None) -> Path:
    """Saved feature sets live beside the runs: <store>/_featuresets/<name>/."""
    return store_dir(store) / "_featuresets"


def specs_dir(store: str | os.PathLike | None = None) -> Path:
    """Saved model specs live beside the runs: <store>/_specs/<name>.json."""
    return store_dir(store) / "_specs"
