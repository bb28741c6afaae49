"""What was fetched from where: ``ROOT/feeds.json`` in the lake root, written atomically under a
lock, so ``data update`` can top every fetched series up and skip what is already complete.

    {"version": 1, "series": {"binance:crypto/BTC/1min": {
        "source": "binance", "asset": "BTC", "feed_symbol": "BTCUSDT", "asset_class": "crypto",
        "symbol": "BTC", "freq": "1min", "since": "2024-01-01T00:00:00+00:00",
        "complete": ["m:2024-01", "d:2024-03-01"], "last_fetch": "...", "last_bar": "..."}}}

``complete`` lists the archive months (``m:``) and days (``d:``) fetched whole: they are not
asked for again while their partition is in the lake.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

from synthwb.core.config import data_dir
from synthwb.core.errors import DataError
from synthwb.core.io import atomic_write_json

MANIFEST = "feeds.json"
VERSION = 1


def manifest_path(root=None) -> Path:
    return Path(data_dir(root)) / MANIFEST


def series_key(source: str, asset_class: str, symbol: str, freq: str) -> str:
    return f"{source}:{asset_class}/{symbol}/{freq}"


def read_manifest(root=None) -> dict:
    """The manifest (an empty one when the lake has none)."""
    p = manifest_path(root)
    if not p.is_file():
        return {"version": VERSION, "series": {}}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read the feeds manifest {p} ({exc}); delete it and fetch again "
                        "(the bars in the lake stay)") from None
    if not isinstance(data, dict) or not isinstance(data.get("series"), dict):
        raise DataError(f"the feeds manifest {p} is not what synthwb writes; delete it and fetch again")
    return data


@contextmanager
def _locked(root):
    p = manifest_path(root)
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no cross-process lock
        yield
        return
    with open(p.parent / ".feeds.lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def record(root, key: str, entry: dict, complete: list[str] = ()) -> dict:
    """Merge ``entry`` into the series' record (``since`` keeps the earliest, ``complete`` grows)."""
    with _locked(root):
        data = read_manifest(root)
        old = data["series"].get(key, {})
        new = {**old, **{k: v for k, v in entry.items() if v is not None}}
        if old.get("since") and entry.get("since"):
            new["since"] = min(old["since"], entry["since"])
        new["complete"] = sorted(set(old.get("complete", [])) | set(complete))
        data["series"][key] = new
        atomic_write_json(manifest_path(root), data)
        return new
