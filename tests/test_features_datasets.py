"""Spec, build from the lake + cache, scaling, splits, windows, feature sets, selection, export."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from synthwb.core.errors import NotFound, SpecError
from synthwb.data.lake import read_bars
from synthwb.data.resample import resample
from synthwb.data.schema import Selection
from synthwb.features.compute import build_features, cache_key
from synthwb.features.datasets import SplitSpec, make_windows, split_frame
from synthwb.features.featureset import (
    FeatureSet,
    create_featureset,
    delete_featureset,
    list_featuresets,
    load_featureset,
    save_featureset,
)
from synthwb.features.microstructure import resample_with_micro
from synthwb.features.registry import FeatureSpec, default_spec
from synthwb.features.scaling import Scaler
from synthwb.features.selection import select_features

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def frame(n=50):
    ts = [T0 + timedelta(hours=i) for i in range(n)]
    close = 100.0 + np.arange(n, dtype=float)
    return pl.DataFrame({"ts": ts, "close": close, "a": np.arange(n, dtype=float) * 2.0,
                         "b": np.sin(np.arange(n, dtype=float))}).with_columns(pl.col("ts").dt.cast_time_unit("us"))


# ----------------------------------------------------------------------------- spec

def test_spec_json_round_trip_fills_defaults():
    spec = FeatureSpec(freq="1h", features=[{"name": "rsi", "params": {"window": 7}}, "macd", "microstructure"],
                       references=["ETH"])
    again = FeatureSpec.from_json(spec.model_dump_json())
    assert again == spec
    assert again.to_dict()["features"][1] == {"name": "macd", "params": {"fast": 12, "slow": 26, "signal": 9}}
    assert again.base_freq == "1min"
    assert json.loads(spec.to_json())["references"] == ["ETH"]


@pytest.mark.parametrize("bad, words", [
    ({"features": [{"name": "rsii"}]}, ["unknown feature 'rsii'"]),
    ({"features": [{"name": "rsi", "params": {"windw": 3}}]}, ["rsi", "windw"]),
    ({"features": [{"name": "rsi", "params": {"window": 1}}]}, ["rsi.window", "below the minimum"]),
    ({"features": [{"name": "macd", "params": {"fast": 30, "slow": 10}}]}, ["macd", "fast"]),
    ({"features": ["cross_asset"]}, ["cross_asset", "reference"]),
    ({"features": ["rsi", "rsi"]}, ["rsi_14", "both"]),
    ({"freq": "2h", "features": []}, ["frequency '2h'"]),
    ({"freq": "1min", "base_freq": "5min", "features": ["microstructure"]}, ["coarser"]),
    ({"feature": []}, ["unknown field", "feature"]),
])
def test_bad_specs_name_the_problem(bad, words):
    with pytest.raises(SpecError) as exc:
        FeatureSpec.from_dict(bad)
    for w in words:
        assert w in str(exc.value)


# ----------------------------------------------------------------------------- scaling / splits / windows

def test_scaler_fits_train_only_and_inverts():
    df = frame(40)
    parts = split_frame(df, SplitSpec(train=0.5, val=0.25))
    sc = Scaler("standard").fit(parts["train"], ["a", "b"])
    a_train = parts["train"]["a"].to_numpy()
    assert sc.center[0] == pytest.approx(a_train.mean()) and sc.scale[0] == pytest.approx(a_train.std())
    assert sc.center[0] != pytest.approx(df["a"].mean())  # not the whole frame
    z = sc.transform(parts["train"])
    assert z["a"].mean() == pytest.approx(0.0, abs=1e-12) and z["a"].std(ddof=0) == pytest.approx(1.0)
    back = Scaler.from_dict(json.loads(json.dumps(sc.to_dict()))).inverse_transform(sc.transform(df))
    np.testing.assert_allclose(back["a"].to_numpy(), df["a"].to_numpy())
    mm = Scaler("minmax").fit(parts["train"], ["a"])
    t = mm.transform(parts["train"])["a"]
    assert t.min() == 0.0 and t.max() == 1.0
    const = Scaler("standard").fit(pl.DataFrame({"c": [3.0, 3.0]}), ["c"])
    assert const.transform(pl.DataFrame({"c": [3.0, 4.0]}))["c"].to_list() == [0.0, 1.0]
    with pytest.raises(SpecError, match="method"):
        Scaler("robust")


def test_splits_chronological_by_fraction_and_date():
    df = frame(100).sample(fraction=1.0, shuffle=True, seed=1)
    parts = split_frame(df, SplitSpec(train=0.6, val=0.2))
    assert [p.height for p in parts.values()] == [60, 20, 20]
    assert parts["train"]["ts"].max() < parts["val"]["ts"].min() < parts["test"]["ts"].min()
    by_date = split_frame(df, SplitSpec(val_start=T0 + timedelta(hours=70), test_start=T0 + timedelta(hours=90)))
    assert [p.height for p in by_date.values()] == [70, 20, 10]
    assert by_date["val"]["ts"].min() == T0 + timedelta(hours=70)
    with pytest.raises(SpecError, match="val_start"):
        SplitSpec(val_start="2024-02-01", test_start="2024-01-01")
    with pytest.raises(SpecError, match="train"):
        SplitSpec(train=0.9, val=0.3)


def test_windows_shapes_t0_column_and_scaling():
    df = frame(30)
    w = make_windows(df, ["a", "b"], context=5, horizon=3, stride=2)
    n = (30 - 5 - 3) // 2 + 1
    assert w.x.shape == (n, 5, 2) and w.x.dtype == np.float32
    assert w.future.shape == (n, 4) and w.last_close.shape == (n,)
    np.testing.assert_array_equal(w.future[:, 0], w.last_close)
    # window k covers rows 2k .. 2k+4; its origin is row 2k+4 (row 6 for k=1)
    assert w.x[1, :, 0].tolist() == [4.0, 6.0, 8.0, 10.0, 12.0]
    assert w.last_close[1] == 100.0 + 6
    assert w.future[1].tolist() == [106.0, 107.0, 108.0, 109.0]
    assert w.origin_ts[1] == np.datetime64(T0.replace(tzinfo=None) + timedelta(hours=6), "us")
    assert w.future[-1, -1] <= df["close"][-1]
    assert not w.x.flags.owndata  # a strided view, not N copies
    sc = Scaler("standard").fit(df, ["a", "b"])
    ws = make_windows(df, ["a", "b"], context=5, horizon=3, scaler=sc)
    assert ws.x[0, 0, 0] == pytest.approx((0.0 - sc.center[0]) / sc.scale[0])
    assert ws.future[0, 0] == 104.0  # the target stays in prices
    assert len(make_windows(df, ["a"], context=28, horizon=3)) == 0


# ----------------------------------------------------------------------------- lake

def test_micro_resample_matches_the_lake_resampler(demo_lake):
    for ac, sym in (("crypto", "BTC"), ("equity", "SPY")):
        fine = read_bars(Selection(ac, sym, "1min"), root=demo_lake)
        mine = resample_with_micro(fine, "1h", ac).select("ts", "open", "high", "low", "close", "volume")
        theirs = resample(fine, "1h", ac).select("ts", "open", "high", "low", "close", "volume")
        assert mine.height == theirs.height > 0
        assert mine["ts"].to_list() == theirs["ts"].to_list()
        np.testing.assert_allclose(mine.drop("ts").to_numpy(), theirs.drop("ts").to_numpy())


def test_build_features_from_lake_with_cache(demo_lake, lake_env):
    sel = Selection("crypto", "BTC", "1h", "2024-01-05", "2024-01-15")
    spec = FeatureSpec(freq="1h", features=["microstructure", "rsi", "calendar", "adx_regime", "cross_asset"],
                       references=["ETH", "equity:SPY"])
    df = build_features(sel, spec, root=demo_lake)
    assert df.columns[:6] == ["ts", "open", "high", "low", "close", "volume"]
    assert df.columns[6:] == spec.columns()
    assert df["ts"].min() == datetime(2024, 1, 5, tzinfo=UTC)  # warm-up read before the start
    assert df["ts"].max() < datetime(2024, 1, 15, tzinfo=UTC)
    assert df.null_count().sum_horizontal()[0] == 0
    assert np.isfinite(df.drop("ts").to_numpy()).all()
    files = list((lake_env.cache / "features").glob("*.parquet"))
    assert len(files) == 1
    again = build_features(sel, spec, root=demo_lake)
    assert again.equals(df)
    # the cache is keyed by the spec: another spec is another entry
    build_features(sel, FeatureSpec(freq="1h", features=["rsi"]), root=demo_lake)
    assert len(list((lake_env.cache / "features").glob("*.parquet"))) == 2
    assert cache_key(sel, spec, demo_lake) != cache_key(sel.__class__("crypto", "ETH", "1h"), spec, demo_lake)


def test_build_features_missing_symbol_and_freq_mismatch(demo_lake, lake_env):
    with pytest.raises(NotFound, match="DOGE"):
        build_features(Selection("crypto", "DOGE", "1h"), FeatureSpec(freq="1h", features=["rsi"]), root=demo_lake)
    with pytest.raises(SpecError, match="4h"):
        build_features(Selection("crypto", "BTC", "1h"), FeatureSpec(freq="4h", features=["rsi"]), root=demo_lake)


def test_featureset_save_load_windows_and_features_for(demo_lake, lake_env):
    sel = Selection("crypto", "BTC", "1h", "2024-01-03", "2024-01-18")
    spec = FeatureSpec(freq="1h", features=["log_return", "rsi", "microstructure", "vol_regime"])
    fs = create_featureset("btc-1h", sel, spec, SplitSpec(train=0.6, val=0.2), root=demo_lake)
    assert fs.feature_cols == spec.model_columns()
    train = fs.splits()["train"]
    assert fs.scaler_obj.center[fs.feature_cols.index("rsi_14")] == pytest.approx(train["rsi_14"].mean())
    assert fs.fit_end == train_end_iso(fs)
    path = save_featureset(fs, lake_env.store)
    assert path == lake_env.store / "_featuresets" / "btc-1h" / "featureset.json"
    loaded = load_featureset("btc-1h", lake_env.store)
    assert loaded.to_dict() == fs.to_dict()
    assert loaded.frame().equals(fs.frame())  # stored frame, no lake needed
    w = loaded.windows("val", context=12, horizon=4)
    # origins cover the whole validation split (context may reach back into train), futures stay inside it
    assert w.x.shape[1:] == (12, len(fs.feature_cols)) and len(w) == fs.rows["val"] - 4
    np.testing.assert_allclose(w.future[:, 0], w.last_close)
    val = fs.splits()["val"]
    assert w.origin_ts[0] == np.datetime64(val["ts"][0].replace(tzinfo=None), "us")
    assert w.future[-1, -1] == val["close"][-1]
    cold = loaded.windows("val", context=12, horizon=4, warm_context=False)
    assert len(cold) == fs.rows["val"] - 12 - 4 + 1
    tw = loaded.windows("train", context=12, horizon=4)
    assert tw.origin_ts[-1] < w.origin_ts[0] and len(tw) == fs.rows["train"] - 12 - 4 + 1
    assert [r["name"] for r in list_featuresets(lake_env.store)] == ["btc-1h"]
    # features at forecast origins from raw history: same as the stored frame, scaled
    hist = read_bars(Selection("crypto", "BTC", "1h", "2024-01-01", "2024-01-18"), root=demo_lake)
    out = loaded.features_for(hist, root=demo_lake)
    assert out.columns == ["ts", "raw_close", "raw_high", "raw_low", *fs.feature_cols]
    stored = fs.scaler_obj.transform(fs.frame()).filter(pl.col("ts") == out["ts"][-1])
    row = out.filter(pl.col("ts") == out["ts"][-1])
    for c in ("rsi_14", "ms_rv", "vreg", "close"):
        assert row[c][0] == pytest.approx(stored[c][0], rel=1e-6, abs=1e-9), c
    # the stored vol-regime centers are reused: a short history labels bars exactly as the saved frame
    assert len(loaded.fitted["vol_regime_24_3"]) == 3
    short = loaded.features_for(hist.filter(pl.col("ts") >= datetime(2024, 1, 12, tzinfo=UTC)),
                                root=demo_lake, scaled=False)
    both = short.join(fs.frame(), on="ts", suffix="_saved")
    assert both.height > 50
    assert both["vreg"].to_list() == both["vreg_saved"].to_list()
    with pytest.raises(SpecError, match="invalid feature set name"):
        save_featureset(FeatureSet(**{**fs.to_dict(), "name": "../evil"}), lake_env.store)
    delete_featureset("btc-1h", lake_env.store)
    with pytest.raises(NotFound, match="btc-1h"):
        load_featureset("btc-1h", lake_env.store)
    assert not (lake_env.store / "_featuresets" / "btc-1h").exists()


def train_end_iso(fs):
    parts = fs.splits()
    return parts["val"]["ts"][0].isoformat()


def test_selection_report_drops_correlated_and_ranks():
    rng = np.random.default_rng(0)
    n = 600
    signal = rng.normal(size=n)
    close = 100 * np.exp(np.cumsum(np.r_[0.0, 0.01 * signal[:-1]] + rng.normal(0, 0.001, n)))
    df = pl.DataFrame({"close": close, "sig": signal, "sig_copy": signal * 2 + 1,
                       "noise": rng.normal(size=n), "anti": -signal + rng.normal(0, 0.01, n)})
    rep = select_features(df, ["sig", "sig_copy", "noise", "anti"], corr_threshold=0.95, top_n=1)
    dropped = {(d["dropped"], d["kept"]) for d in rep.dropped}
    assert dropped == {("sig_copy", "sig"), ("anti", "sig")}
    assert [d["corr"] for d in rep.dropped if d["dropped"] == "sig_copy"][0] == pytest.approx(1.0)
    assert rep.kept == ["sig"]  # the feature that drives the forward return ranks first
    assert {r["feature"] for r in rep.importances} == {"sig", "noise"}
    with pytest.raises(SpecError, match="column"):
        select_features(df, ["nope"])


def test_export_gluonts_readable(demo_lake, lake_env, tmp_path):
    from datasets import load_from_disk

    sel = Selection("crypto", "ETH", "1h", "2024-01-03", "2024-01-18")
    spec = FeatureSpec(freq="1h", features=["calendar", "rsi"])
    fs = create_featureset("eth", sel, spec, root=demo_lake)
    from synthwb.features.export import export_gluonts

    out = export_gluonts(fs, tmp_path / "gluonts")
    ds = load_from_disk(str(out))
    assert ds.num_rows == 3 and set(ds.column_names) == {
        "item_id", "start", "freq", "target", "feat_dynamic_real", "past_feat_dynamic_real"}
    row = ds[0]
    assert row["freq"] == "h" and row["item_id"] == "ETH:eth:train"
    assert len(row["target"]) == 1 and len(row["target"][0]) == fs.rows["train"]
    assert row["target"][0][0] == pytest.approx(fs.splits()["train"]["close"][0], rel=1e-6)
    assert len(row["feat_dynamic_real"]) == 10  # calendar columns are known ahead
    assert len(row["past_feat_dynamic_real"]) == len(fs.feature_cols) - 10 - 1  # minus calendar, target
    assert not list(tmp_path.glob(".gluonts.*"))  # no temp folder left behind
    with pytest.raises(SpecError, match="split"):
        export_gluonts(fs, tmp_path / "bad", splits=("training",))
    assert not (tmp_path / "bad").exists()


def test_default_spec_is_valid():
    spec = default_spec("1h")
    assert "rsi_14" in spec.columns() and spec.freq == "1h"
