"""The validator cadence: the simulated request stream, one scored request per (asset, bucket) by
the version's keeper rule (md5 vs smallest id), and a backtest whose origins sit there."""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import numpy as np
import pytest

from synthwb.core.errors import SpecError
from synthwb.evaluate.cadence import asset_of, prompt_assets, request_stream, scored_requests

NS = 1_000_000_000
DAY0 = int(datetime(2024, 1, 10, tzinfo=UTC).timestamp()) * NS


def test_asset_names_and_prompts():
    assert asset_of("BTCUSDT") == asset_of("btc-usd") == asset_of("BTC/USD") == asset_of("BTC") == "BTC"
    assert prompt_assets("1h", "2026-09") == ["BTC", "ETH", "SOL", "XRP", "HYPE"]
    assert prompt_assets("1h", "2026-05") == ["BTC", "ETH", "XAU", "SOL", "HYPE"]
    assert prompt_assets("24h", "2026-09")[:6] == ["BTC", "ETH", "SOL", "XRP", "HYPE", "XAU"]


def test_the_request_stream_per_version():
    hour = 3600 * NS
    # 2026-09, 1h: BTC every minute, ETH every 5; 24h: BTC every 4 minutes, the rest every 12
    for asset, task, gap in (("BTC", "1h", 1), ("HYPE", "1h", 1), ("ETH", "1h", 5), ("BTC", "24h", 4),
                             ("XAU", "24h", 12)):
        req, ids = request_stream(asset, task, "2026-09", DAY0, DAY0 + hour)
        assert set(np.diff(req) // NS // 60) == {gap} and req.size == 60 // gap, (asset, task)
        assert (np.diff(ids) > 0).all()
    # 2026-05: round robin, one asset every 2 minutes (1h, 5 assets): each asset every 10 minutes
    btc, _ = request_stream("BTC", "1h", "2026-05", DAY0, DAY0 + hour)
    eth, _ = request_stream("ETH", "1h", "2026-05", DAY0, DAY0 + hour)
    assert set(np.diff(btc) // NS) == {600} and set((eth - btc) // NS) == {120}
    btc24, _ = request_stream("BTC", "24h", "2026-05", DAY0, DAY0 + 3 * hour)
    assert set(np.diff(btc24) // NS) == {3600}  # 12 assets x 5 minutes


def test_ids_are_sequential_in_time_over_every_asset():
    t1 = DAY0 + 600 * NS
    seen = {}
    for a in prompt_assets("1h", "2026-09"):
        req, ids = request_stream(a, "1h", "2026-09", DAY0, t1)
        seen.update({int(i): (int(r), a) for r, i in zip(req, ids)})
    ids = sorted(seen)
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # no gap, no repeat
    order = [seen[i] for i in ids]
    assert order == sorted(order, key=lambda x: (x[0], prompt_assets("1h", "2026-09").index(x[1])))
    # an id never depends on the period asked for
    r1, i1 = request_stream("BTC", "1h", "2026-09", DAY0, t1)
    r2, i2 = request_stream("BTC", "1h", "2026-09", DAY0 - 86400 * NS, t1)
    assert dict(zip(r2.tolist(), i2.tolist()))[int(r1[3])] == i1[3]


def _start(req_ns, extra_s):
    return (req_ns // (60 * NS) + 1) * 60 * NS + extra_s * NS


@pytest.mark.parametrize("salt", ["", "abc"])
def test_one_scored_request_per_bucket_by_md5_under_2026_09(salt):
    t1 = DAY0 + 6 * 3600 * NS
    kept = scored_requests("BTC", "1h", "2026-09", DAY0, t1, salt=salt)
    assert kept.keeper == "md5" and kept.bucket_seconds == 600
    buckets = kept.start_ns // (600 * NS)
    assert len(kept) == 36 and np.unique(buckets).size == len(kept)  # one per 10 minutes
    np.testing.assert_array_equal(kept.start_ns, _start(kept.request_ns, 0))
    # independently: every request of each bucket, the smallest md5(str(id) + salt) wins
    req, ids = request_stream("BTC", "1h", "2026-09", DAY0 - 3600 * NS, t1 + 3600 * NS)
    b_all = _start(req, 0) // (600 * NS)
    for r, b in zip(kept.request_ns, buckets):
        cand = ids[b_all == b]
        assert cand.size == 10
        best = min(cand.tolist(), key=lambda i: hashlib.md5(f"{i}{salt}".encode()).hexdigest())
        assert int(ids[req == r][0]) == best
    assert kept.to_dict()["n_requests"] == 360


def test_the_salt_changes_the_keepers_not_the_buckets():
    t1 = DAY0 + 6 * 3600 * NS
    a = scored_requests("BTC", "1h", "2026-09", DAY0, t1, salt="")
    b = scored_requests("BTC", "1h", "2026-09", DAY0, t1, salt="x")
    np.testing.assert_array_equal(a.start_ns // (600 * NS), b.start_ns // (600 * NS))
    assert (a.request_ns != b.request_ns).any()


def test_the_earliest_request_is_kept_under_2026_05():
    t1 = DAY0 + 6 * 3600 * NS
    kept = scored_requests("BTC", "24h", "2026-05", DAY0, t1)
    assert kept.keeper == "min-id" and kept.bucket_seconds == 3600 and len(kept) == 6
    # round robin: one BTC request per hour, each is its bucket's only (and smallest-id) request
    np.testing.assert_array_equal(kept.request_ns, DAY0 + np.arange(6) * 3600 * NS)
    np.testing.assert_array_equal(kept.start_ns, kept.request_ns + 120 * NS)
    # min-id against md5 on the same dense 2026-09 stream: the smallest id is the earliest request
    from synthwb.scoring.versions import keeper_index

    ids = [17, 12, 40, 33]
    assert keeper_index(ids, "min-id") == 1
    assert keeper_index(ids, "md5") == min(range(4), key=lambda i: hashlib.md5(str(ids[i]).encode()).hexdigest())


def test_a_custom_task_has_no_cadence():
    with pytest.raises(SpecError, match="no request cadence"):
        scored_requests("BTC", "tiny", "2026-09", DAY0, DAY0 + 3600 * NS)


# ------------------------------------------------------------------------------ the backtest mode


def test_backtest_origins_sit_on_the_scored_requests(demo_lake):
    from synthwb.evaluate.backtest import BacktestSpec, run_backtest

    spec = BacktestSpec.parse({"selection": {"asset_class": "crypto", "symbol": "BTC", "freq": "1min"},
                               "task": "1h", "start": "2024-01-10", "end": "2024-01-10T06:00:00",
                               "n_origins": 100, "n_paths": 8, "baselines": ["gbm"], "keep_paths": 0,
                               "cadence": True})
    res = run_backtest(spec, root=demo_lake)
    cad = res.meta["cadence"]
    assert cad["keeper"] == "md5" and cad["validator"] == "2026-09" and cad["asset"] == "BTC"
    kept = scored_requests("BTC", "1h", "2026-09", int(res.origins[0].timestamp()) * NS - 600 * NS,
                           int(datetime(2024, 1, 10, 6, tzinfo=UTC).timestamp()) * NS)
    t0 = res.per_origin.filter(res.per_origin["model"] == "gbm").sort("origin")["t0"].to_list()
    starts = [int(t.timestamp()) * NS for t in t0]
    # on 1-minute bars the replay is exact: each origin's start time is a scored request's
    assert set(starts) <= set(kept.start_ns.tolist()) and cad["n_shifted"] == 0
    assert len({s // (600 * NS) for s in starts}) == len(starts)  # one origin per 10-minute bucket
    assert len(starts) >= 30
    # 2026-05 on the same period: the round robin's BTC requests, every 10 minutes, at the earliest
    old = run_backtest(spec.model_copy(update={"validator": "2026-05"}), root=demo_lake)
    o = [int(x.timestamp()) for x in old.origins]
    assert set(np.diff(o)) == {600} and old.meta["cadence"]["keeper"] == "min-id"
    with pytest.raises(SpecError, match="places the origins itself"):
        BacktestSpec.parse({**spec.model_dump(), "every": 3})
