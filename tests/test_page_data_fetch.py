"""AppTest: the Data Explorer's Fetch panel against the loopback feeds (tests/feeds_support.py):
a fetch runs as a background job, shows what it added, refreshes the lake; Stop ends it with the
complete partitions kept; a feed failure is a message, not a traceback."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from apptest_support import open_page, wait_jobs
from feeds_support import FeedServer, make_bars
from polars.testing import assert_frame_equal

from synthwb.data.feeds.manifest import read_manifest
from synthwb.data.lake import read_bars
from synthwb.data.schema import Selection


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


@pytest.fixture
def feeds(monkeypatch, lake_env):
    """Yesterday from the daily archive, today from REST (bars up to an hour ahead are served;
    the fetch keeps only closed ones); HYPE from Hyperliquid over the same two days."""
    now = datetime.now(UTC)
    yesterday = (now - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    with FeedServer() as srv:
        srv.binance["BTCUSDT"] = make_bars(yesterday, now + timedelta(hours=1), seed=3)
        srv.daily.add(("BTCUSDT", f"{yesterday:%Y-%m-%d}"))
        srv.hl["@107"] = make_bars(yesterday, now + timedelta(hours=1), seed=4, base=30.0)
        for k, v in srv.env().items():
            monkeypatch.setenv(k, v)
        srv.yesterday = yesterday
        yield srv


def _open(srv):
    at = open_page("data_explorer")
    assert not at.exception, at.exception
    at.date_input(key="de_fetch_since").set_value(srv.yesterday.date()).run()
    return at


def test_fetch_panel_fetches_in_the_background_and_shows_what_it_added(feeds, lake_env):
    at = _open(feeds)
    assert at.multiselect(key="de_fetch_assets").value == ["BTC"]
    at.button(key="de_fetch_go").click().run()
    wait_jobs(at)
    ok = texts(at.success)
    assert "Fetch of BTC 1min since" in ok and "bars added" in ok, ok + texts(at.error)
    got = read_bars(Selection("crypto", "BTC", "1min"), root=lake_env.root)
    want = feeds.binance["BTCUSDT"].filter(pl.col("ts") <= got["ts"].max())
    assert_frame_equal(got, want)
    assert got["ts"].max() >= datetime.now(UTC) - timedelta(minutes=3)
    summary = next(d.value for d in at.dataframe if "bars added" in d.value.columns)
    assert int(summary["bars added"].iloc[0]) == got.height
    assert "binance:crypto/BTC/1min" in read_manifest(lake_env.root)["series"]
    # a competition: every asset it scores (here only BTC and HYPE are served; the others fail cleanly)
    at.segmented_control(key="de_fetch_mode").set_value("A validator competition").run()
    assert "HYPE hyperliquid @107" in texts(at.caption)
    # Update all: only what is missing
    at.button(key="de_fetch_update").click().run()
    wait_jobs(at)
    assert "Update of the fetched series" in texts(at.success)


def test_stop_keeps_complete_partitions_and_a_failure_is_a_message(feeds, lake_env):
    # the day before yesterday from its archive, then REST for more than one call (1000 bars each) at any
    # time of day: the stop lands while a REST call is held and a later one is still to come
    day = feeds.yesterday - timedelta(days=1)
    feeds.binance["BTCUSDT"] = make_bars(day, datetime.now(UTC) + timedelta(hours=1), seed=3)
    feeds.daily.clear()
    feeds.daily.add(("BTCUSDT", f"{day:%Y-%m-%d}"))
    feeds.yesterday = day
    feeds.faults.append({"match": "/api/v3/klines", "action": "block", "times": 1})
    at = _open(feeds)
    at.button(key="de_fetch_go").click().run()
    assert feeds.held.wait(60)
    at.button(key="de_fetch_job_stop").click().run()
    feeds.release.set()
    wait_jobs(at)
    assert "stopped;" in texts(at.warning)
    got = read_bars(Selection("crypto", "BTC", "1min"), root=lake_env.root)
    assert got["ts"].min() == feeds.yesterday and got.height >= 1440  # yesterday's archive, complete
    feeds.faults.append({"match": "/api/v3/klines", "action": "500", "times": None})
    at.button(key="de_fetch_go").click().run()
    wait_jobs(at)
    err = texts(at.error)
    assert "answered 500 Internal Server Error" in err and "complete partitions kept" in err
    assert not at.exception
