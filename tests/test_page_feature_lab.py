"""AppTest of the Feature Lab page: pick features, preview, chart, selection, save a feature set."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from apptest_support import open_page as open_app

from synthwb.features.featureset import load_featureset

ROOT = Path(__file__).resolve().parents[1]
@pytest.fixture
def app(demo_lake, lake_env, monkeypatch):
    shutil.rmtree(lake_env.root)
    shutil.copytree(demo_lake, lake_env.root)
    at = open_app("feature_lab", timeout=180)
    assert not at.exception, at.exception
    return at


def _checkbox(at, key):
    return next(c for c in at.checkbox if c.key == key)


def test_feature_lab_pick_preview_save(app, lake_env):
    at = app
    assert any("Feature Lab" in t.value for t in at.title)
    assert len(at.dataframe) >= 1  # preview rendered with the default features
    _checkbox(at, "fl_on_microstructure").check()
    _checkbox(at, "fl_on_cci").check()
    at.run()
    assert not at.exception, at.exception
    # parameter widgets come from the registry: cci has window (int) and constant (float)
    win = at.number_input(key="fl_p_cci_window")
    assert win.value == 20 and win.min == 2 and win.max == 500
    win.set_value(10)
    at.run()
    assert not at.exception, at.exception
    preview = at.dataframe[0].value
    assert "cci_10" in preview.columns and "ms_vwap_dev" in preview.columns
    assert not at.get("plotly_chart")  # one view at a time: the preview; the charts when chosen
    at.segmented_control(key="fl_view").set_value("Chart").run()
    assert len(at.get("plotly_chart")) == 1  # the price chart
    at.segmented_control(key="fl_view").set_value("Correlation").run()
    assert len(at.get("plotly_chart")) == 1  # the correlation heatmap
    assert not at.exception, at.exception
    assert _checkbox(at, "fl_ohlcv").value is False   # the stationary default, as `features build`
    _checkbox(at, "fl_ohlcv").check()
    at.text_input(key="fl_save_name").set_value("lab-set")
    at.button(key="fl_save").click()
    at.run()
    assert not at.exception, at.exception
    assert any("lab-set" in s.value for s in at.success)
    assert any(s.label == "Saved in" or s.label.startswith("Saved in") for s in at.status)  # its progress
    fs = load_featureset("lab-set", lake_env.store)
    assert "cci_10" in fs.feature_cols and "close" in fs.feature_cols
    assert fs.feature_spec.base_freq == "1min"


def test_feature_lab_selection_and_bad_param(app):
    at = app
    at.segmented_control(key="fl_view").set_value("Selection").run()
    submit = [b for b in at.button if "Run selection" in (b.label or "")]
    assert submit
    submit[0].click()
    at.run()
    assert not at.exception, at.exception
    assert any("kept (" in c.value for c in at.caption)
    # a MACD with fast >= slow is a user mistake shown as a message, not a traceback
    _checkbox(at, "fl_on_macd").check()
    at.run()
    at.number_input(key="fl_p_macd_fast").set_value(40)
    at.run()
    assert not at.exception
    assert any("fast" in e.value for e in at.error)
