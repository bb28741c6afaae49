"""Saved backtests: ``<store>/<run_id>/backtests/<slug>/`` (or any folder), and CSV files.

    spec.json  result.json  per_origin.csv  intervals.csv  quantiles.csv
    terms.parquet  quantiles.parquet  pit.parquet  realised.npy

A folder is written beside itself and renamed into place, so it is either whole or absent.
:mod:`synthwb.evaluate.backtest` turns a result into these plain values and back.
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from synthwb.core.errors import NotFound, SpecError
from synthwb.core.io import atomic_write_all, atomic_write_json, disk_errno, write_failed
from synthwb.store.runs import run_dir

CSV_FILES = ("per_origin.csv", "intervals.csv", "quantiles.csv")
FOLDER = "backtests"


def csv_paths(out: str | os.PathLike) -> list[Path]:
    """Where the three CSVs go: ``out`` is a folder, or a ``.csv`` file for the per-origin scores
    with ``<stem>_intervals.csv`` and ``<stem>_quantiles.csv`` beside it."""
    out = Path(out)
    if out.suffix.lower() == ".csv":
        return [out, out.with_name(f"{out.stem}_intervals.csv"), out.with_name(f"{out.stem}_quantiles.csv")]
    return [out / name for name in CSV_FILES]


def write_csvs(texts: Sequence[str], out: str | os.PathLike) -> list[Path]:
    """Write the per-origin, interval and quantile CSV texts, all or none (a full disk leaves
    none of them, half-written or whole)."""
    paths = csv_paths(out)
    atomic_write_all(dict(zip(paths, texts)), "backtest CSVs")
    return paths


def write_backtest(folder: str | os.PathLike, *, spec: dict, result: dict, csvs: Sequence[str],
                   frames: dict[str, pl.DataFrame], arrays: dict[str, np.ndarray]) -> Path:
    """Write a whole backtest folder (refused when it exists); ``frames`` -> ``<name>.parquet``
    (empty frames are skipped), ``arrays`` -> ``<name>.npy``."""
    folder = Path(folder)
    if folder.exists():
        raise SpecError(f"backtest folder {folder} already exists")
    tmp = folder.parent / f".{folder.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        atomic_write_json(tmp / "spec.json", spec)
        atomic_write_json(tmp / "result.json", result)
        write_csvs(csvs, tmp)
        for name, frame in frames.items():
            if frame.width:  # a frame without columns (no quantiles) is not written
                frame.write_parquet(tmp / f"{name}.parquet")
        for name, arr in arrays.items():
            np.save(tmp / f"{name}.npy", arr)
        os.replace(tmp, folder)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if disk_errno(exc) is None:
            raise
        raise write_failed(folder, exc, "backtest folder") from None
    return folder


def read_backtest(folder: str | os.PathLike) -> tuple[dict, dict[str, pl.DataFrame], dict[str, np.ndarray]]:
    """result.json, the parquet frames and the npy arrays of a saved backtest, plus its
    per-origin CSV as the frame ``per_origin`` (read with dates parsed)."""
    folder = Path(folder)
    if not (folder / "result.json").exists():
        raise NotFound(f"no backtest in {folder}")
    info = json.loads((folder / "result.json").read_text())
    frames = {p.stem: pl.read_parquet(p) for p in sorted(folder.glob("*.parquet"))}
    frames["per_origin"] = pl.read_csv(folder / "per_origin.csv", try_parse_dates=True)
    arrays = {p.stem: np.load(p) for p in sorted(folder.glob("*.npy"))}
    return info, frames, arrays


def backtest_folder(run_id: str, slug: str, store: str | os.PathLike | None = None) -> Path:
    return run_dir(run_id, store) / FOLDER / slug


def list_backtests(run_id: str, store: str | os.PathLike | None = None) -> list[dict]:
    """The backtests saved beside a run: name, path, origins, task and summary."""
    base = run_dir(run_id, store) / FOLDER
    out = []
    if base.is_dir():
        for d in sorted(base.iterdir()):
            if d.is_dir() and not d.name.startswith(".") and (d / "result.json").exists():
                info = json.loads((d / "result.json").read_text())
                out.append({"name": d.name, "path": str(d), "n_origins": info.get("n_origins"),
                            "task": info.get("task", {}).get("name"), "summary": info.get("summary")})
    return out
