"""Saved feature sets: ``<store>/_featuresets/<name>/featureset.json`` + ``frame.parquet``
(the unscaled feature frame, so training does not need the lake).

Both files are written atomically, the JSON last, so a folder without ``featureset.json`` is
never listed. :class:`synthwb.features.featureset.FeatureSet` turns the record into its type.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import polars as pl

from synthwb.core.config import featuresets_dir, writable_store_dir
from synthwb.core.errors import NotFound, SpecError
from synthwb.core.io import atomic_path, atomic_write_json, check_slug

FILE = "featureset.json"
FRAME = "frame.parquet"

Store = str | os.PathLike | None


def featureset_folder(name: str, store: Store = None) -> Path:
    return featuresets_dir(store) / check_slug(name, "feature set name")


def write_featureset(name: str, record: dict, frame: pl.DataFrame | None = None, store: Store = None,
                     overwrite: bool = True) -> Path:
    """Write a feature set's record (and its frame); returns the folder."""
    writable_store_dir(store)
    folder = featureset_folder(name, store)
    if not overwrite and (folder / FILE).exists():
        raise SpecError(f"a feature set named {name!r} already exists")
    folder.mkdir(parents=True, exist_ok=True)
    if frame is not None:
        with atomic_path(folder / FRAME, suffix=".parquet") as tmp:
            frame.write_parquet(tmp)
    atomic_write_json(folder / FILE, record)
    return folder


def read_featureset(name: str, store: Store = None) -> tuple[dict, Path]:
    """A saved feature set's record and its folder."""
    path = featureset_folder(name, store) / FILE
    if not path.exists():
        have = list_featuresets(store)
        raise NotFound(f"no feature set named {name!r}; saved: {', '.join(f['name'] for f in have) or 'none'}")
    try:
        return json.loads(path.read_text(encoding="utf-8")), path.parent
    except json.JSONDecodeError as exc:
        raise SpecError(f"feature set {name!r}: {FILE} is not valid JSON ({exc})") from None


def read_frame(folder: Path | None) -> pl.DataFrame | None:
    """The stored frame of a feature set folder, or None when it was saved without one."""
    stored = folder / FRAME if folder else None
    return pl.read_parquet(stored) if stored is not None and stored.exists() else None


def list_featuresets(store: Store = None) -> list[dict]:
    """Summaries of saved feature sets, newest first."""
    base = featuresets_dir(store)
    out = []
    if not base.exists():
        return out
    for f in sorted(base.glob(f"*/{FILE}")):
        try:
            d = json.loads(f.read_text(encoding="utf-8"))
            sel = d["selection"]
            out.append({"name": d["name"], "asset_class": sel["asset_class"], "symbol": sel["symbol"],
                        "freq": sel["freq"], "features": len(d["feature_cols"]), "rows": sum(d.get("rows", {}).values()),
                        "scaling": d["scaler"]["method"], "created": d.get("created", "")})
        except (OSError, json.JSONDecodeError, KeyError, TypeError):
            continue
    return sorted(out, key=lambda r: r["created"], reverse=True)


def delete_featureset(name: str, store: Store = None) -> None:
    folder = featureset_folder(name, store)
    if not (folder / FILE).exists():
        raise NotFound(f"no feature set named {name!r}")
    (folder / FILE).unlink()
    shutil.rmtree(folder, ignore_errors=True)
