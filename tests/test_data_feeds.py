"""Fetching from the validator's feeds against a loopback server (tests/feeds_support.py) that
speaks each API's format: Binance's bulk archives with checksums and REST klines, Hyperliquid's
candleSnapshot. Bars must land equal to the served frame, bar for bar; `update` adds only what is
missing; a killed fetch resumes; bad checksums, 429 storms and 500s leave the lake unchanged
with a clear message. No test touches the real network."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from feeds_support import FeedServer, kline_csv, make_bars
from polars.testing import assert_frame_equal

from synthwb.cli import main
from synthwb.data.feeds.assets import FEEDS, feed_for
from synthwb.data.feeds.binance import parse_klines_csv
from synthwb.data.feeds.fetch import fetch, plan, update
from synthwb.data.feeds.manifest import read_manifest
from synthwb.data.lake import read_bars
from synthwb.data.schema import Selection
from synthwb.scoring.versions import get_validator, validator_names

ROOT = Path(__file__).resolve().parents[1]
FAST = {"retries": 3, "backoff": 0.01, "max_backoff": 0.05}


def dt(*a) -> datetime:
    return datetime(*a, tzinfo=UTC)


def lake_bars(root, symbol: str, start=None, end=None) -> pl.DataFrame:
    return read_bars(Selection("crypto", symbol, "1min", start, end), root=root)


def served(df: pl.DataFrame, lo: datetime, hi: datetime) -> pl.DataFrame:
    return df.filter((pl.col("ts") >= lo) & (pl.col("ts") < hi))


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock" and p.name != ".feeds.lock"}


@pytest.fixture(scope="module")
def btc() -> pl.DataFrame:
    """Two months and three days of BTC 1-minute bars (91,440 bars)."""
    return make_bars(dt(2024, 1, 1), dt(2024, 3, 4), seed=1)


@pytest.fixture
def server(monkeypatch, btc):
    with FeedServer() as srv:
        srv.binance["BTCUSDT"] = btc
        srv.monthly |= {("BTCUSDT", "2024-01"), ("BTCUSDT", "2024-02")}
        srv.daily |= {("BTCUSDT", "2024-03-01")}
        for k, v in srv.env().items():
            monkeypatch.setenv(k, v)
        yield srv


# ----------------------------------------------------------------------------- the asset table

def test_every_validator_asset_has_its_feed():
    """The one asset -> feed table covers every asset every known validator version scores."""
    for name in validator_names():
        rules = get_validator(name)
        for comp in rules.competitions.values():
            for asset in comp.assets:
                assert asset in FEEDS, f"{name} {comp.key}: {asset} has no feed"
    assert [a for a, f in FEEDS.items() if f.source == "binance"] == ["BTC", "ETH", "SOL", "XRP"]
    assert FEEDS["HYPE"].symbol == "@107" and FEEDS["WTIOIL"].symbol == "xyz:CL" and FEEDS["XAU"].symbol == "xyz:GOLD"
    for asset in get_validator("2026-09").competition("comequ-24h").assets:
        assert FEEDS[asset].source == "hyperliquid" and FEEDS[asset].symbol.startswith("xyz:")
    with pytest.raises(Exception, match="reads BTC from binance"):
        feed_for("BTC", "hyperliquid")
    with pytest.raises(Exception, match="Pyth"):
        feed_for("SPYX")


def test_plan_archives_days_and_rest_tail():
    units = plan("binance", dt(2024, 1, 15), dt(2024, 3, 2, 20), now=dt(2024, 3, 2, 20, 0, 30))
    assert [(u.kind, u.key) for u in units] == [("month", "m:2024-01"), ("month", "m:2024-02"),
                                                 ("day", "d:2024-03-01"), ("rest", None)]
    assert not units[0].whole and units[1].whole
    assert [u.kind for u in plan("hyperliquid", dt(2024, 1, 15), dt(2024, 3, 2), now=dt(2024, 3, 2))] == ["hl"] * 3


def test_archive_csv_in_microseconds_from_2025():
    df = make_bars(dt(2025, 1, 1), dt(2025, 1, 1, 1))
    got = parse_klines_csv(kline_csv(df, micro=True), "x.csv")
    assert_frame_equal(got, df)
    assert_frame_equal(parse_klines_csv(kline_csv(df, micro=False), "x.csv"), df)


# ----------------------------------------------------------------------------- the Done-when path

def test_btc_archives_plus_rest_tail_and_hype_then_update_adds_only_missing(lake_env, server, btc):
    root = lake_env.root
    hype = make_bars(dt(2024, 2, 20), dt(2024, 3, 4), seed=2, base=30.0)
    server.hl["@107"] = hype
    now1 = dt(2024, 3, 2, 20, 0, 30)  # the 20:00 bar is still forming
    server.rest_until = dt(2024, 3, 2, 20)
    res = fetch(["BTC", "HYPE"], since="2024-01-01", now=now1, root=root)
    assert res["status"] == "finished", res
    until1 = dt(2024, 3, 2, 20)
    assert_frame_equal(lake_bars(root, "BTC"), served(btc, dt(2024, 1, 1), until1))
    window = served(hype, dt(2024, 1, 1), until1).tail(5000)
    assert_frame_equal(lake_bars(root, "HYPE"), window)
    by = {r["asset"]: r for r in res["series"]}
    assert by["BTC"]["rows_added"] == served(btc, dt(2024, 1, 1), until1).height
    assert by["HYPE"]["rows_added"] == 5000 and any("recent window" in n for n in by["HYPE"]["notes"])
    rest = [x for x in server.log if "/api/v3/klines" in x]
    assert len(rest) == 2, rest  # 1,200 minutes of March 2 in pages of 1,000
    man = read_manifest(root)["series"]
    assert man["binance:crypto/BTC/1min"]["complete"] == ["d:2024-03-01", "m:2024-01", "m:2024-02"]
    assert man["hyperliquid:crypto/HYPE/1min"]["feed_symbol"] == "@107"

    before = snapshot(root)
    server.log.clear()
    now2 = dt(2024, 3, 3, 6, 0, 30)
    server.rest_until = dt(2024, 3, 3, 6)
    up = update(root=root, now=now2)
    assert up["status"] == "finished", up
    by = {r["asset"]: r for r in up["series"]}
    assert by["BTC"]["rows_added"] == 600 and by["HYPE"]["rows_added"] == 600  # 20:00 .. 06:00
    assert not [x for x in server.log if ".zip" in x and ("2024-01" in x or "2024-02" in x)], server.log
    after = snapshot(root)
    for path in before:
        if "month=1/" in path or "month=2/" in path:
            assert after[path] == before[path], f"{path} was rewritten"
    assert_frame_equal(lake_bars(root, "BTC"), served(btc, dt(2024, 1, 1), dt(2024, 3, 3, 6)))
    assert_frame_equal(lake_bars(root, "HYPE", dt(2024, 2, 29)), served(hype, dt(2024, 2, 29), dt(2024, 3, 3, 6)))
    again = update(root=root, now=now2)
    assert again["rows_added"] == 0


def test_killed_fetch_resumes(lake_env, server, btc):
    """A fetch process killed (SIGKILL) while the second month downloads leaves only the first,
    complete partition; the same command again completes the lake."""
    root = lake_env.root
    server.faults.append({"match": "2024-02.zip", "action": "block", "times": 1})
    cmd = [sys.executable, "-m", "synthwb", "data", "fetch", "--source", "binance", "--asset", "BTC",
           "--since", "2024-01-01", "--until", "2024-03-01", "--root", str(root)]
    env = {**os.environ, **server.env(), "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert server.held.wait(60), "the fetch never reached the second month"
        os.kill(p.pid, signal.SIGKILL)
        p.wait(30)
    finally:
        if p.poll() is None:
            p.kill()
    assert_frame_equal(lake_bars(root, "BTC"), served(btc, dt(2024, 1, 1), dt(2024, 2, 1)))
    assert not [q for q in root.rglob("*.tmp")], "a temp file was left behind"
    server.release.set()
    server.log.clear()
    done = subprocess.run(cmd + ["--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["series"][0]["rows_added"] == served(btc, dt(2024, 2, 1), dt(2024, 3, 1)).height
    assert_frame_equal(lake_bars(root, "BTC"), served(btc, dt(2024, 1, 1), dt(2024, 3, 1)))
    assert not [x for x in server.log if "2024-01.zip" in x], "the complete month was downloaded again"


def test_dropped_connection_and_one_500_are_retried(lake_env, server, btc):
    server.faults += [{"match": "2024-01.zip", "action": "drop", "times": 1},
                      {"match": "2024-01.zip", "action": "500", "times": 1}]
    res = fetch(["BTC"], since="2024-01-30", until="2024-02-01", root=lake_env.root, client_options=FAST)
    assert res["status"] == "finished", res
    assert_frame_equal(lake_bars(lake_env.root, "BTC"), served(btc, dt(2024, 1, 30), dt(2024, 2, 1)))


def test_retry_after_is_respected(lake_env, server, btc):
    server.faults.append({"match": "2024-01.zip", "action": "429", "times": 1, "retry_after": "1"})
    t0 = time.monotonic()
    res = fetch(["BTC"], since="2024-01-31", until="2024-02-01", root=lake_env.root, client_options=FAST)
    assert res["status"] == "finished" and time.monotonic() - t0 >= 1.0


# ----------------------------------------------------------------------------- failures: lake unchanged

@pytest.fixture
def seeded(lake_env, server, btc):
    """A lake already holding one day of BTC, so 'unchanged' is a real check."""
    res = fetch(["BTC"], since="2024-02-10", until="2024-02-11", root=lake_env.root)
    assert res["status"] == "finished"
    server.log.clear()
    return lake_env.root, snapshot(lake_env.root)


@pytest.mark.parametrize("fault, message", [
    ({"match": "2024-01.zip.CHECKSUM", "action": "badsum", "times": None}, r"checksum mismatch for BTCUSDT-1m-2024-01\.zip"),
    ({"match": "2024-01", "action": "429", "times": None, "retry_after": "0"},
     r"429 Too Many Requests \(rate limit\) 4 times in a row.*wait a few minutes"),
    ({"match": "2024-01", "action": "500", "times": None}, r"answered 500 Internal Server Error 4 times.*try again later"),
    ({"match": "2024-01", "action": "418", "times": None, "retry_after": "7200"}, r"418 .*asks to wait 7200 s"),
])
def test_feed_failures_leave_the_lake_unchanged(seeded, server, fault, message):
    root, snap = seeded
    server.faults.append(fault)
    res = fetch(["BTC"], since="2024-01-01", until="2024-02-01", root=root, client_options=FAST)
    assert res["status"] == "failed" and res["rows_added"] == 0
    assert res["error"].startswith("BTC: ")
    import re

    assert re.search(message, res["error"]), res["error"]
    assert snapshot(root) == snap, "a failed fetch changed the lake (or its manifest)"


def test_cli_failure_is_one_line_and_exit_2(seeded, server, capsys):
    root, _ = seeded
    server.faults.append({"match": "CHECKSUM", "action": "badsum", "times": None})
    rc = main(["data", "fetch", "--asset", "BTC", "--since", "2024-01-01", "--until", "2024-01-03", "--root", str(root)])
    out = capsys.readouterr()
    assert rc == 2
    assert out.err.startswith("error: BTC: checksum mismatch") and out.err.count("\n") == 1


# ----------------------------------------------------------------------------- the CLI

def test_cli_fetch_a_competition_then_update(lake_env, server, capsys):
    day = (dt(2024, 1, 1), dt(2024, 1, 2))
    frames = {}
    for i, sym in enumerate(("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT")):
        frames[sym] = make_bars(*day, seed=10 + i, base=100.0 * (i + 1))
        server.binance[sym] = frames[sym]
        server.monthly.add((sym, "2024-01"))
    server.hl["@107"] = make_bars(*day, seed=20, base=25.0)
    root = lake_env.root
    rc = main(["data", "fetch", "--competition", "crypto-24h", "--validator", "2026-09", "--since", "2024-01-01",
               "--until", "2024-01-02", "--root", str(root), "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    doc = json.loads(out.out)
    assert [s["asset"] for s in doc["series"]] == ["BTC", "ETH", "SOL", "XRP", "HYPE"]
    assert all(s["rows_added"] == 1440 for s in doc["series"])
    assert_frame_equal(lake_bars(root, "ETH"), frames["ETHUSDT"])
    assert_frame_equal(lake_bars(root, "HYPE"), server.hl["@107"])
    server.log.clear()
    rc = main(["data", "update", "--until", "2024-01-02", "--root", str(root)])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "updated: 0 bars added" in out.out
    assert not [x for x in server.log if ".zip" in x], server.log


def test_cli_refuses_bad_requests_before_any_request(lake_env, server, capsys):
    for argv, match in [
        (["--asset", "BTC", "--source", "hyperliquid", "--since", "2024-01-01"], "reads BTC from binance"),
        (["--competition", "nope", "--since", "2024-01-01"], "no competition 'nope'"),
        (["--asset", "BTC", "--since", "2030-01-01"], "is not before --until"),
        (["--since", "2024-01-01"], "name what to fetch"),
    ]:
        rc = main(["data", "fetch", *argv, "--root", str(lake_env.root)])
        err = capsys.readouterr().err
        assert rc == 2 and match in err, err
    assert server.log == []
