"""Computing a feature frame: pure (:func:`compute_features`) and from the lake, cached
(:func:`build_features`).

The frame is ``ts, open, high, low, close, volume`` followed by the spec's feature columns in
spec order. With ``spec.dropna`` the warm-up rows (any feature still undefined) are dropped.
The lake read is padded backwards by the features' warm-up so the first rows of the selected
range already have every feature defined.

The on-disk cache is one Parquet file per (selection, spec, fit_end, lake file mtimes and
sizes, formula version) under ``config.cache_dir()/features/``; a changed lake file or
formula gives a new key, so a stale frame is never served.
"""
from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from synthwb.core.config import cache_dir, data_dir
from synthwb.core.errors import DataError, SpecError, SynthwbError
from synthwb.core.io import atomic_path
from synthwb.data.lake import read_bars, stored_freqs
from synthwb.data.schema import FREQ_SECONDS, OHLCV, Selection, is_24_7
from synthwb.features.microstructure import resample_with_micro
from synthwb.features.registry import FEATURES, FEATURES_VERSION, FeatureContext, FeatureSpec, wants_ctx

__all__ = ["compute_features", "build_features", "warmup_bars", "load_context", "cache_key", "read_finest"]


def compute_features(bars: pl.DataFrame, spec: FeatureSpec, ctx: FeatureContext | None = None,
                     dropna: bool | None = None) -> pl.DataFrame:
    """Add the spec's feature columns to ``bars`` (ts + OHLCV, sorted). Pure: no I/O."""
    ctx = ctx or FeatureContext(freq=spec.freq)
    missing = [c for c in ("ts", *OHLCV) if c not in bars.columns]
    if missing:
        raise DataError(f"bars are missing column(s) {missing}")
    bars = bars.select("ts", *[pl.col(c).cast(pl.Float64) for c in OHLCV])
    exprs: list[pl.Expr] = []
    frames: list[pl.DataFrame] = []
    for it in spec.features:
        entry = FEATURES.get(it.name)
        kwargs = dict(it.params)
        if wants_ctx(entry):
            kwargs["ctx"] = ctx
        out = entry.obj(bars, **kwargs)
        if isinstance(out, pl.DataFrame):
            if out.height != bars.height and out.width:
                raise RuntimeError(f"feature {it.name!r} returned {out.height} rows for {bars.height} bars")
            frames.append(out)
        else:
            exprs.extend(out)
    frame = bars.lazy().with_columns(exprs).collect() if exprs else bars
    for f in frames:
        if f.width:
            frame = frame.hstack(f.select(pl.all().cast(pl.Float64)))
    cols = spec.columns()
    absent = [c for c in cols if c not in frame.columns]
    if absent:
        raise RuntimeError(f"features did not make the declared column(s) {absent}")
    # NaN and inf never leave: undefined values are null (warm-up) and dropped below
    frame = frame.select("ts", *OHLCV, *[
        pl.when(pl.col(c).cast(pl.Float64).is_finite()).then(pl.col(c).cast(pl.Float64)).otherwise(None).alias(c)
        for c in cols])
    if (spec.dropna if dropna is None else dropna) and cols:
        frame = frame.drop_nulls(cols)
    return frame


def warmup_bars(spec: FeatureSpec, lookback: bool = True) -> int:
    """Bars needed before a feature is defined and has forgotten its seed (about 4x the longest
    window), and at least the history a feature reads back in time (realised measures: a month).

    ``lookback=False``: the first part alone, the bars a forecast cannot do without. Features that
    read back in time (``lookback_s``) use the history that exists (a month's window over two weeks
    of bars is the two weeks' mean), so a series shorter than their look-back is still forecast;
    :func:`warmup_bars` with the look-back sizes what is *read* before an origin."""
    back = -(-spec.lookback_seconds() // FREQ_SECONDS[spec.freq]) + 2 if (lookback and spec.lookback_seconds()) else 0
    longest = 1
    for it in spec.features:
        for v in it.params.values():
            if isinstance(v, int) and not isinstance(v, bool):
                longest = max(longest, v)
        if it.name == "macd":
            longest = max(longest, it.params["slow"] + it.params["signal"])
    return max(4 * longest + 2, back)


def read_finest(asset_class: str, symbol: str, freq: str, start, end, root=None) -> pl.DataFrame | None:
    """The finest stored bars of a series strictly finer than ``freq`` in [start, end), or None
    when ``freq`` is already the finest stored (the bars themselves are then the finest)."""
    try:
        freqs = [f for f in stored_freqs(asset_class, symbol, root) if FREQ_SECONDS[f] < FREQ_SECONDS[freq]]
    except SynthwbError:
        return None
    if not freqs:
        return None
    fine = read_bars(Selection(asset_class, symbol, freqs[0], start, end), root=root)
    return None if fine.is_empty() else fine


def _pad(spec: FeatureSpec, asset_class: str) -> timedelta:
    sec = warmup_bars(spec) * FREQ_SECONDS[spec.freq]
    if not is_24_7(asset_class):  # sessions: ~6.5 of 24 h trade, 5 of 7 days
        sec = int(sec * 24 / 6.5 * 7 / 5) + 4 * 86400
    return timedelta(seconds=sec)


def _ref_selection(ref: str, sel: Selection, freq: str, start, end) -> Selection:
    ac, sym = ref.split(":", 1) if ":" in ref else (sel.asset_class, ref)
    return Selection(ac, sym, freq, start, end)


def load_context(sel: Selection, spec: FeatureSpec, root=None, fit_end: datetime | None = None,
                 fitted: dict | None = None) -> tuple[pl.DataFrame, FeatureContext]:
    """Read the bars (padded for warm-up), fine bars and references a spec needs."""
    if sel.freq != spec.freq:
        raise SpecError(f"the selection is {sel.freq} bars but the feature spec is for {spec.freq}")
    start = sel.start - _pad(spec, sel.asset_class) if sel.start else None
    ctx = FeatureContext(asset_class=sel.asset_class, freq=spec.freq, fit_end=fit_end)
    if fitted is not None:
        ctx.fitted = fitted
    if spec.needs_fine():
        fine = read_bars(Selection(sel.asset_class, sel.symbol, spec.base_freq, start, sel.end), root=root)
        if fine.is_empty():
            raise DataError(f"no {spec.base_freq} bars for {sel.asset_class}/{sel.symbol} in the selected range")
        ctx.fine = fine
        ctx.micro = resample_with_micro(fine, spec.freq, sel.asset_class)
        if sel.end is not None:
            ctx.micro = ctx.micro.filter(pl.col("ts") < sel.end)
        bars = ctx.micro.select("ts", *OHLCV)
    else:
        bars = read_bars(Selection(sel.asset_class, sel.symbol, spec.freq, start, sel.end), root=root)
    if bars.is_empty():
        raise DataError(f"no {spec.freq} bars for {sel.asset_class}/{sel.symbol} in the selected range")
    if spec.needs_finest():
        ctx.finest = read_finest(sel.asset_class, sel.symbol, spec.freq, start, sel.end, root)
    if spec.references:
        lo = bars["ts"].min()
        for ref in spec.references:
            rsel = _ref_selection(ref, sel, spec.freq, lo - timedelta(days=7), sel.end)
            ctx.references[ref] = read_bars(rsel, root=root)
    return bars, ctx


def _lake_files(root: Path, asset_class: str, symbol: str) -> list[tuple[str, int, int]]:
    base = Path(root) / f"asset_class={asset_class}"
    out = []
    for p in sorted(base.glob(f"freq=*/symbol={symbol}/year=*/month=*/*.parquet")):
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        out.append((str(p.relative_to(root)), st.st_mtime_ns, st.st_size))
    return out


def cache_key(sel: Selection, spec: FeatureSpec, root=None, fit_end: datetime | None = None) -> str:
    root = data_dir(root)
    files = _lake_files(root, sel.asset_class, sel.symbol)
    for ref in spec.references:
        ac, sym = ref.split(":", 1) if ":" in ref else (sel.asset_class, ref)
        files += _lake_files(root, ac, sym)
    blob = json.dumps({"v": FEATURES_VERSION, "sel": sel.key(), "spec": spec.to_dict(), "root": str(Path(root).resolve()),
                       "fit_end": fit_end.isoformat() if fit_end else None, "files": files}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def build_features(sel: Selection, spec: FeatureSpec, root=None, cache: bool = True,
                   fit_end: datetime | None = None, fitted: dict | None = None) -> pl.DataFrame:
    """The feature frame of a lake selection: ts, OHLCV, then the spec's feature columns.

    ``fit_end``: features fitted on data (volatility clustering) use only bars before it
    (pass the training split's end). ``fitted``: a dict that receives (or, when filled,
    supplies) those fitted parameters. Cached on disk unless ``cache=False``.
    """
    path = None
    has_fitted = any(FEATURES.get(it.name).meta.get("fitted") for it in spec.features)
    if cache:
        path = cache_dir() / "features" / f"{cache_key(sel, spec, root, fit_end)}.parquet"
        if path.exists() and not (fitted is not None and has_fitted):
            try:
                return pl.read_parquet(path)
            except Exception:  # a corrupt cache entry is recomputed, never fatal
                path.unlink(missing_ok=True)
    bars, ctx = load_context(sel, spec, root=root, fit_end=fit_end, fitted=fitted)
    frame = compute_features(bars, spec, ctx)
    if sel.start is not None:
        frame = frame.filter(pl.col("ts") >= sel.start)
    if frame.is_empty():
        raise DataError(f"no rows left for {sel.asset_class}/{sel.symbol} {sel.freq} after the features' "
                        f"warm-up of {warmup_bars(spec)} bars; choose a longer date range or shorter windows")
    if path is not None:
        try:
            with atomic_path(path, suffix=".parquet") as tmp:
                frame.write_parquet(tmp)
            _trim_cache(path.parent)
        except OSError:  # the cache is a speed-up: one that cannot be written is skipped, never fatal
            pass
    return frame


def _trim_cache(folder: Path, keep: int = 64) -> None:
    """Keep the most recently written entries only."""
    try:
        files = sorted(folder.glob("*.parquet"), key=lambda p: p.stat().st_mtime, reverse=True)
    except FileNotFoundError:
        return
    for p in files[keep:]:
        try:
            os.unlink(p)
        except OSError:
            pass
