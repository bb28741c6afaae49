"""Forward-pass smoke test on real windows: a saved feature set of the demo lake, and the bars fallback."""
from __future__ import annotations

import numpy as np
import pytest

from synthwb.core.errors import DataError
from synthwb.data.lake import read_bars
from synthwb.data.schema import Selection
from synthwb.features.featureset import create_featureset, save_featureset
from synthwb.features.registry import FeatureSpec
from synthwb.models import ModelSpec
from synthwb.models.smoke import run_smoke, windows_from_bars, windows_from_featureset


def spec(n_features, context=32, horizon=8):
    return ModelSpec(blocks=[{"name": "dlinear", "params": {"kernel": 5}}], head={"name": "horizon", "params": {"n_heads": 2}},
                     n_features=n_features, d_model=8, context=context, horizon=horizon)


def test_smoke_on_saved_featureset(demo_lake, tmp_path):
    fspec = FeatureSpec(freq="15min", features=({"name": "log_return", "params": {"periods": 1}},
                                                {"name": "rsi", "params": {"window": 14}}))
    fs = create_featureset("mb-tiny", Selection("crypto", "BTC", "15min"), fspec, root=demo_lake)
    save_featureset(fs, tmp_path)
    nf = len(fs.feature_cols)
    w = windows_from_featureset(spec(nf), "mb-tiny", split="val", n=3, store=tmp_path, root=demo_lake)
    assert w.x.shape == (3, 32, nf) and w.future.shape == (3, 9) and not w.notes
    np.testing.assert_array_equal(w.future[:, 0], w.last_close)
    # consecutive 15-minute steps
    assert (np.diff(w.times[0]) == np.timedelta64(900, "s")).all()
    res = run_smoke(w, n_paths=20)
    assert res["paths"].shape == (3, 20, 9)
    assert res["finite"] and res["positive"] and res["t0_exact"]
    assert res["extras"]["vol"].shape == (3, 8)
    # a spec with another feature count still runs, and says so
    w2 = windows_from_featureset(spec(nf + 3), "mb-tiny", split="val", n=2, store=tmp_path, root=demo_lake)
    assert w2.spec.n_features == nf and "the smoke test runs with n_features=" in w2.notes[0]
    with pytest.raises(DataError, match="no val window"):
        windows_from_featureset(spec(nf, context=5000), "mb-tiny", split="val", store=tmp_path, root=demo_lake)


def test_smoke_on_bars_fallback(demo_lake):
    bars = read_bars(Selection("crypto", "ETH", "1h"), root=demo_lake)
    w = windows_from_bars(spec(5), bars, "1h", n=4)
    assert w.spec.n_features == 1 and "only feature" in w.notes[0]
    close = bars["close"].to_numpy()
    # the last window ends at the last possible origin: its realised future is the last horizon+1 closes
    np.testing.assert_allclose(w.future[-1], close[-9:])
    r = np.diff(np.log(close))
    z = (r - r.mean()) / r.std()
    np.testing.assert_allclose(w.x[-1, :, 0], z[-(8 + 32):-8], rtol=1e-5, atol=1e-5)
    res = run_smoke(w, n_paths=10)
    assert res["t0_exact"] and res["positive"]
    with pytest.raises(DataError, match="needs context \\+ horizon"):
        windows_from_bars(spec(1, context=100_000), bars, "1h")
