"""AppTest: the Data Explorer page on an empty lake and on the demo lake.

Sidebar choices are set through ``session_state`` (widget keys) before the first run of a
fresh AppTest, which is exactly what a user's clicks leave in the session."""
from __future__ import annotations

import shutil
from datetime import date

import pytest
from apptest_support import open_page as open_app
from streamlit.testing.v1 import AppTest

from synthwb.data.lake import inventory, read_bars
from synthwb.data.schema import Selection


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
    # a fresh session (the sidebar re-reads the lake) shows the new data, on the 24h task's
    # 5-minute bars, and the next step of the getting-started path
    at = open_explorer()
    assert "empty" not in texts(at.info)
    assert "**BTC** / 5min" in texts(at.caption)
    assert len(at.get("plotly_chart")) == 1  # the chart view only: the others are computed when shown
    guide = next(e for e in at.expander if e.label.startswith("Getting started"))
    assert guide.label == "Getting started: step 2 of 4"
    assert "the sidebar's BTC 5min bars" in texts(guide.markdown)
    # the step names the series the sidebar shows, not the demo's default
    at = open_explorer(sb_asset_class="crypto", sb_symbol="ETH", sb_freq="15min")
    guide = next(e for e in at.expander if e.label.startswith("Getting started"))
    assert "the sidebar's ETH 15min bars" in texts(guide.markdown) and "BTC 5min" not in texts(guide.markdown)


def test_empty_lake_shows_the_getting_started_path(lake_env):
    at = open_explorer()
    guide = next(e for e in at.expander if e.label.startswith("Getting started"))
    text = texts(guide.markdown)
    assert guide.label == "Getting started: step 1 of 4"
    for i, step in enumerate(("Create the demo lake", "Save a feature set", "Train a model", "Backtest it"), 1):
        assert f"{i}." in text and step in text


def test_demo_lake_chart_quality_and_stats(demo_env):
    at = open_explorer(sb_asset_class="crypto", sb_symbol="ETH", sb_freq="15min")
    assert not at.error
    caps = texts(at.caption)
    assert "**ETH** / 15min" in caps
    assert "15min bars are drawn as" in caps and "1h candles" in caps
    view = at.segmented_control(key="de_view")
    assert view.options == ["Chart", "Data quality", "Statistics", "Export"] and view.value == "Chart"
    assert len(at.get("plotly_chart")) == 1 and not at.metric  # only the chart view is computed
    view.set_value("Data quality").run()
    labels = [m.label for m in at.metric]
    for want in ("Missing share", "Gaps", "Duplicates", "Bad OHLC rows"):
        assert want in labels
    assert len(at.get("plotly_chart")) == 1  # the coverage calendar
    at.segmented_control(key="de_view").set_value("Statistics").run()
    assert "Realised vol (annualised)" in [m.label for m in at.metric]
    assert len(at.get("plotly_chart")) == 2  # returns histogram, realised vol
    at.segmented_control(key="de_view").set_value("Export").run()
    assert len(at.get("download_button")) == 1  # CSV export of the selected range
    assert not at.exception


def test_a_long_minute_range_is_aggregated_for_display(demo_env):
    at = open_explorer(sb_freq="1min", sb_range=(date(2024, 1, 1), date(2024, 1, 19)))
    caps = texts(at.caption)
    assert "1min bars are drawn as" in caps and "1h candles" in caps
    # the gaps of the demo data show up in the quality panel
    at.segmented_control(key="de_view").set_value("Data quality").run()
    gaps = next(m for m in at.metric if m.label == "Gaps")
    assert int(gaps.value.replace(",", "")) >= 1
    assert "gaps" in texts(at.warning)


def test_session_asset_daily_bars(demo_env):
    at = open_explorer(sb_asset_class="equity", sb_symbol="SPY", sb_freq="1d")
    caps = texts(at.caption)
    assert "**SPY** / 1d" in caps and "New York time" in caps
    at.segmented_control(key="de_view").set_value("Data quality").run()
    assert "Missing share" in [m.label for m in at.metric]


GOOD_CSV = b"timestamp,open,high,low,close,volume\n" + b"".join(
    f"2024-02-01 00:{m:02d}:00,10,12,9,11,{m + 1}\n".encode() for m in range(30))


def _upload(at: AppTest, name: str, data: bytes, symbol: str, click: bool = True) -> AppTest:
    at.file_uploader(key="de_upload").set_value((name, data, "text/csv"))
    at.run()
    at.text_input(key="de_imp_sym").input(symbol)
    at.run()
    assert not at.exception, at.exception
    if click:
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


def test_the_upload_is_streamed_to_one_temp_file_that_the_engine_reads(lake_env):
    """The upload lands in a temp file on disk (not a bytes copy in a cache); a second file
    replaces the first, whose temp folder is removed."""
    from pathlib import Path

    at = _upload(open_explorer(), "mine.csv", GOOD_CSV, "ABC", click=False)
    _, fid, first = at.session_state["de_imp_spool"]
    assert Path(first).read_bytes() == GOOD_CSV and len(fid) == 12
    other = GOOD_CSV.replace(b"2024-02-01", b"2024-03-01")
    at.file_uploader(key="de_upload").set_value(("other.csv", other, "text/csv"))
    at.run()
    assert not at.exception, at.exception
    _, fid2, second = at.session_state["de_imp_spool"]
    assert fid2 != fid and Path(second).read_bytes() == other
    assert not Path(first).parent.exists()
    assert not list(lake_env.root.rglob("*.parquet"))  # previews write nothing


def test_a_bad_file_is_refused_on_the_page(lake_env):
    bad = GOOD_CSV.replace(b"2024-02-01 00:07:00,10,12,9", b"2024-02-01 00:07:00,10,8,9")
    at = _upload(open_explorer(), "bad.csv", bad, "ABC", click=False)
    assert "high < low in row 8" in texts(at.error)
    assert at.button(key="de_imp_go").disabled
    assert "lake is unchanged" in texts(at.caption)
    assert not list(lake_env.root.rglob("*.parquet"))


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


# CryptoDataDownload-style: a URL line above the header, newest first, base and quote volumes
CDD = (b"https://www.CryptoDataDownload.com\nunix,date,symbol,open,high,low,close,Volume BTC,Volume USDT\n"
       + b"".join(f"{1704085200000 - 3600000 * i},x,BTC/USDT,{105 - i},{107 - i},{104 - i},{106 - i},{8 - i},{800 - i}\n"
                  .encode() for i in range(6)))


def test_import_panel_previews_the_file_with_its_mapping_before_writing(lake_env):
    at = _upload(open_explorer(), "Binance_BTCUSDT_1h.csv", CDD, "BTC", click=False)
    assert at.selectbox(key="de_imp_freq").value == "1h" and not at.error  # guessed from the file name
    at.selectbox(key="de_imp_freq").set_value("1min").run()
    assert "the bars are 1h apart (inferred frequency 1h) but Frequency is 1min; choose Frequency 1h" in texts(at.error)
    at.selectbox(key="de_imp_freq").set_value("1h")
    at.run()
    # the mapping form, pre-filled with the guess
    assert {f: at.selectbox(key=f"de_map_{f}").value for f in ("ts", "open", "close", "volume")} == \
        {"ts": "unix", "open": "open", "close": "close", "volume": "Volume BTC"}
    assert "Volume USDT" in at.selectbox(key="de_map_volume").options
    # the preview: counts, inferred frequency, zone, first and last parsed rows
    assert (_metric(at, "Rows in file"), _metric(at, "Bars"), _metric(at, "Duplicates"), _metric(at, "Gaps"),
            _metric(at, "Inferred frequency")) == ("6", "6", "0", "0", "1h")
    caps = texts(at.caption)
    assert "1 preamble line(s) skipped" in caps and "epoch ms" in caps and "newest first" in caps
    first, last = at.dataframe[0].value, at.dataframe[1].value
    assert str(first["ts"].iloc[0]) == "2024-01-01 00:00:00" and float(first["close"].iloc[0]) == 101.0
    assert str(last["ts"].iloc[-1]) == "2024-01-01 05:00:00" and float(last["volume"].iloc[-1]) == 8.0
    assert not list(lake_env.root.rglob("*.parquet")), "the preview wrote to the lake"
    # a changed mapping changes the preview, then Import writes what was previewed
    at.selectbox(key="de_map_volume").set_value("Volume USDT")
    at.run()
    assert float(at.dataframe[1].value["volume"].iloc[-1]) == 800.0
    at.button(key="de_imp_go").click()
    at.run()
    assert not at.exception, at.exception
    assert "Imported 6 bars of crypto/BTC 1h" in texts(at.success)
    out = read_bars(Selection("crypto", "BTC", "1h"), root=lake_env.root)
    assert out["volume"].to_list() == [795.0, 796.0, 797.0, 798.0, 799.0, 800.0]


def test_import_panel_asks_for_a_column_and_a_duplicate_policy(lake_env):
    text = (b"timestamp,open,high,low,close,volume_btc,volume\n"
            b"2024-02-01 00:00:00,10,12,9,11,1,100\n2024-02-01 00:01:00,10,12,9,11,2,200\n"
            b"2024-02-01 00:01:00,11,13,10,12,3,300\n")
    at = _upload(open_explorer(), "two.csv", text, "XBT", click=False)
    assert "two or more columns fit volume: volume_btc, volume" in texts(at.error)
    assert at.selectbox(key="de_map_volume").value == "(choose a column)"
    assert at.button(key="de_imp_go").disabled
    at.selectbox(key="de_map_volume").set_value("volume_btc")
    at.run()
    err = texts(at.error)
    assert "duplicate timestamps in rows 2, 3" in err and "“Duplicate timestamps” (first, last or mean)" in err
    assert _metric(at, "Duplicates") == "1"
    at.selectbox(key="de_imp_dup").set_value("last")
    at.run()
    assert not at.error and not at.button(key="de_imp_go").disabled
    at.button(key="de_imp_go").click()
    at.run()
    out = read_bars(Selection("crypto", "XBT", "1min"), root=lake_env.root)
    assert out["volume"].to_list() == [1.0, 3.0] and out["close"].to_list() == [11.0, 12.0]


def test_rows_out_of_place_are_sorted_and_counted(lake_env):
    hours = [9, 8, 7, 3, 6, 2, 5, 1, 4, 0]
    rows = "\n".join(f"2024-03-01 {h:02d}:00,{100 + h},{101 + h},{99 + h},{100.5 + h},{h + 1}" for h in hours)
    data = ("Date,Open,High,Low,Close,Volume\n" + rows + "\n").encode()
    at = _upload(open_explorer(), "glitch.csv", data, "GLT", click=False)
    at.selectbox(key="de_imp_freq").set_value("1h").run()
    assert not at.error, texts(at.error)
    assert "order: newest first (turned round); 3 rows out of place moved into time order" in texts(at.caption)
    at.button(key="de_imp_go").click().run()
    assert not at.exception, at.exception
    assert "Imported 10 bars of crypto/GLT 1h" in texts(at.success) and "3 rows out of place" in texts(at.success)


def test_the_page_names_its_own_controls_guesses_the_series_and_drops_rows_off_the_grid(lake_env):
    """A file named like a Binance archive fills asset class, symbol and timeframe; a refusal names
    the page's checkbox, not the CLI flag; ticking it drops the named rows."""
    rows = [f"{1704067200000 + i * 60000},{100 + i}.0,{102 + i}.0,{99 + i}.0,{101 + i}.0,5.0,0,0,1,0,0,0" for i in range(20)]
    rows.insert(7, "1704067626000,150.0,151.0,149.0,150.5,0.0,0,0,1,0,0,0")  # 00:07:06, off the grid
    at = open_explorer()
    at.file_uploader(key="de_upload").set_value(("BTCUSDT-1m-2024-01.csv", ("\n".join(rows) + "\n").encode(), "text/csv"))
    at.run()
    assert not at.exception, at.exception
    assert at.text_input(key="de_imp_sym").value == "BTC"
    assert at.selectbox(key="de_imp_ac").value == "crypto" and at.selectbox(key="de_imp_freq").value == "1min"
    assert "Guess: crypto / BTC / 1min, guessed from the file name BTCUSDT-1m-2024-01.csv" in texts(at.caption)
    err = texts(at.error)
    assert "row 8 (2024-01-01 00:07:06 UTC) is off the 1min grid" in err and "“Drop rows off the grid”" in err
    assert "--" not in err and at.button(key="de_imp_go").disabled
    at.checkbox(key="de_imp_drop").check().run()
    assert not at.error, texts(at.error)
    assert "dropped 1 row off the 1min grid: row 8 (2024-01-01 00:07:06)" in texts(at.warning)
    at.button(key="de_imp_go").click().run()
    assert "Imported 20 bars of crypto/BTC 1min" in texts(at.success)


def test_a_write_to_the_lake_outside_the_app_shows_at_the_next_rerun(demo_env):
    """The cached bars and inventory are keyed by the lake's state, not a time-to-live: bars
    written by the CLI (here the engine call it makes) show at once, with no cache to clear."""
    from datetime import UTC, datetime, timedelta

    import polars as pl

    from synthwb.data.lake import write_bars

    at = open_explorer(sb_freq="1min", sb_range=(date(2024, 1, 1), date(2024, 1, 19)))
    before = texts(at.caption)
    assert "**BTC** / 1min" in before
    n0 = int(before.split("(UTC, end exclusive): ")[1].split(" bars")[0].replace(",", ""))
    last = read_bars(Selection("crypto", "BTC", "1min"), root=demo_env.root).tail(1)
    ts0 = last["ts"][0]
    new = pl.DataFrame({"ts": [ts0 + timedelta(minutes=k) for k in range(1, 61)]},
                       schema={"ts": pl.Datetime("us", "UTC")}).with_columns(
        *(pl.lit(last[c][0]).alias(c) for c in ("open", "high", "low", "close", "volume")))
    assert ts0 < datetime(2024, 1, 19, 23, tzinfo=UTC)  # the new hour lies inside the selected range
    write_bars(new, "crypto", "BTC", "1min", root=demo_env.root)
    at.run()
    n1 = int(texts(at.caption).split("(UTC, end exclusive): ")[1].split(" bars")[0].replace(",", ""))
    assert n1 == n0 + 60


def test_import_says_why_it_is_disabled_without_a_symbol(lake_env):
    at = open_explorer()
    at.file_uploader(key="de_upload").set_value(("mine.csv", GOOD_CSV, "text/csv")).run()
    assert at.button(key="de_imp_go").disabled
    assert "Enter a symbol above to import (none could be guessed from the file name)." in texts(at.caption)
