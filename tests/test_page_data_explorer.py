"""AppTest: the Data Explorer page on an empty lake and on the demo lake.

Sidebar choices are set through ``session_state`` (widget keys) before the first run of a
fresh AppTest, which is exactly what a user's clicks leave in the session."""
from __future__ import annotations

import shutil
from datetime import date

import pytest
from apptest_support import open_page as open_app
from streamlit.testing.v1 import AppTest

from synthwb.data.lake import inventory


def open_explorer(**sidebar) -> AppTest:
    """Open the app on the Data Explorer with sidebar widgets preset (sb_asset_class, sb_symbol,
    sb_freq, sb_range)."""
    at = open_app("data_explorer", **sidebar)
    assert not at.exception, at.exception
    return at


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


@pytest.fixture
def demo_env(lake_env, demo_lake):
    shutil.rmtree(lake_env.root)
    shutil.copytree(demo_lake, lake_env.root)
    return lake_env


def test_empty_lake_offers_demo_and_generates_it(lake_env):
    at = open_explorer()
    assert "empty" in texts(at.info)
    assert at.button(key="de_demo_go").label == "Generate demo data"
    assert not list(lake_env.root.rglob("*.parquet"))
    at.number_input(key="de_demo_years").set_value(0.01)
    at.button(key="de_demo_go").click()
    at.run()
    assert not at.exception, at.exception
    inv = inventory(lake_env.root)
    assert set(inv["symbol"]) >= {"BTC", "ETH", "SOL"}
    assert inv.filter(inv["symbol"] == "BTC")["rows"][0] > 0.95 * 0.01 * 365.25 * 1440
    # after the rerun the page shows the new data
    assert "Demo lake written" in texts(at.success)
    # a fresh session (the sidebar re-reads the lake) shows the new data
    at = open_explorer()
    assert "empty" not in texts(at.info)
    assert "**BTC** / 1h" in texts(at.caption)
    assert len(at.get("plotly_chart")) == 4


def test_demo_lake_chart_quality_and_stats(demo_env):
    at = open_explorer(sb_asset_class="crypto", sb_symbol="ETH", sb_freq="15min")
    assert not at.error
    caps = texts(at.caption)
    assert "**ETH** / 15min" in caps
    assert "15min candles" in caps
    labels = [m.label for m in at.metric]
    for want in ("Missing share", "Gaps", "Duplicates", "Bad OHLC rows", "Realised vol (annualised)"):
        assert want in labels
    assert len(at.get("plotly_chart")) == 4  # candles, coverage calendar, returns histogram, realised vol
    assert len(at.get("download_button")) == 1  # CSV export of the selected range
    assert at.tabs[0].label == "Chart" and [t.label for t in at.tabs][:4] == ["Chart", "Data quality", "Statistics", "Export"]


def test_a_long_minute_range_is_aggregated_for_display(demo_env):
    at = open_explorer(sb_freq="1min", sb_range=(date(2024, 1, 1), date(2024, 1, 19)))
    caps = texts(at.caption)
    assert "1min bars are drawn as" in caps and "15min candles" in caps
    # the gaps of the demo data show up in the quality panel
    gaps = next(m for m in at.metric if m.label == "Gaps")
    assert int(gaps.value.replace(",", "")) >= 1
    assert "gaps" in texts(at.warning)


def test_session_asset_daily_bars(demo_env):
    at = open_explorer(sb_asset_class="equity", sb_symbol="SPY", sb_freq="1d")
    caps = texts(at.caption)
    assert "**SPY** / 1d" in caps and "New York time" in caps
    assert "Missing share" in [m.label for m in at.metric]


GOOD_CSV = b"timestamp,open,high,low,close,volume\n" + b"".join(
    f"2024-02-01 00:{m:02d}:00,10,12,9,11,{m + 1}\n".encode() for m in range(30))


def _upload(at: AppTest, name: str, data: bytes, symbol: str) -> AppTest:
    at.file_uploader(key="de_upload").set_value((name, data, "text/csv"))
    at.text_input(key="de_imp_sym").input(symbol)
    at.run()
    at.button(key="de_imp_go").click()
    at.run()
    assert not at.exception, at.exception
    return at


def test_import_a_file_from_the_page(lake_env):
    at = _upload(open_explorer(), "mine.csv", GOOD_CSV, "ABC")
    assert "Imported 30 bars of crypto/ABC 1min from mine.csv" in texts(at.success)
    inv = inventory(lake_env.root)
    assert inv.rows(named=True)[0]["symbol"] == "ABC" and inv["rows"][0] == 30
    at = open_explorer()
    assert "**ABC**" in texts(at.caption)


def test_a_bad_file_is_refused_on_the_page(lake_env):
    bad = GOOD_CSV.replace(b"2024-02-01 00:07:00,10,12,9", b"2024-02-01 00:07:00,10,8,9")
    at = _upload(open_explorer(), "bad.csv", bad, "ABC")
    assert "high < low in row 8" in texts(at.error)
    assert "lake is unchanged" in texts(at.caption)
    assert not list(lake_env.root.rglob("*.parquet"))
