"""The Synth reward on a hand-computed population: cap at p90, invalid -> p90, minus the best,
the rolling window, asset weights, late-joiner back-fill and the softmax; then the same on real
backtest per-origin scores and the `compare --reward` command."""
from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from synthwb.core.errors import SpecError
from synthwb.evaluate.reward import (
    ASSET_WEIGHTS,
    from_per_origin,
    insert_models,
    prompt_scores,
    read_population_csv,
    reward_weights,
    score_requests,
    simulate,
    softmax,
)

DAY = datetime(2024, 5, 1, tzinfo=UTC)
W_ETH = 0.7064366394033871


def day(d: float) -> datetime:
    return DAY + timedelta(days=d)


def table(rows):
    return pl.DataFrame(rows, schema={"request": pl.Utf8, "asset": pl.Utf8, "scored_time": pl.Datetime("us", "UTC"),
                                      "miner": pl.Utf8, "score": pl.Float64}, orient="row")


# R1 BTC day 1: A 10, B 20, C invalid   -> p90 of [10, 20] = 10 + 0.9 * 10 = 19
#    capped A 10, B 19, C 19 (invalid gets p90); best 10 -> A 0, B 9, C 9
# R2 ETH day 3: A 30, B 12, C 14        -> sorted 12, 14, 30: p90 = 14 + 0.8 * 16 = 26.8
#    capped A 26.8, B 12, C 14; best 12 -> A 14.8, B 0, C 2
# R3 BTC day 12: A 5, B 5, C 50         -> sorted 5, 5, 50: p90 = 5 + 0.8 * 45 = 41
#    capped A 5, B 5, C 41; best 5      -> A 0, B 0, C 36
POP = table([
    ("R1", "BTC", day(1), "A", 10.0), ("R1", "BTC", day(1), "B", 20.0), ("R1", "BTC", day(1), "C", -1.0),
    ("R2", "ETH", day(3), "A", 30.0), ("R2", "ETH", day(3), "B", 12.0), ("R2", "ETH", day(3), "C", 14.0),
    ("R3", "BTC", day(12), "A", 5.0), ("R3", "BTC", day(12), "B", 5.0), ("R3", "BTC", day(12), "C", 50.0),
])


def by(df, col="prompt_score"):
    return {(r["request"], r["miner"]): r[col] for r in df.to_dicts()}


def test_cap_invalid_and_best_per_request():
    ps, p90, low = prompt_scores([10.0, 20.0, -1.0])
    assert p90 == pytest.approx(19.0) and low == 10.0
    np.testing.assert_allclose(ps, [0.0, 9.0, 9.0])
    assert prompt_scores([-1.0, np.nan]) == (None, 0.0, 0.0)
    s = by(score_requests(POP))
    want = {("R1", "A"): 0, ("R1", "B"): 9, ("R1", "C"): 9, ("R2", "A"): 14.8, ("R2", "B"): 0, ("R2", "C"): 2,
            ("R3", "A"): 0, ("R3", "B"): 0, ("R3", "C"): 36}
    assert s == pytest.approx(want)


def hand_softmax(values, beta):
    e = [math.exp(beta * v) for v in values]
    return [x / sum(e) for x in e]


def test_window_weights_and_softmax_by_hand():
    scored = score_requests(POP)
    # at day 12 the 10-day window (day 2, day 12] holds R2 (ETH) and R3 (BTC); R1 has left
    w = reward_weights(scored, day(12), "24h")
    sm = dict(zip(w["miner"], w["smoothed_score"]))
    a = (14.8 * W_ETH + 0.0 * 1.0) / (W_ETH + 1.0)
    b = 0.0
    c = (2.0 * W_ETH + 36.0 * 1.0) / (W_ETH + 1.0)
    assert sm == pytest.approx({"A": a, "B": b, "C": c})
    share = dict(zip(w["miner"], w["share"]))
    want = dict(zip("ABC", hand_softmax([a, b, c], -0.1)))
    assert share == pytest.approx(want, rel=1e-12)
    assert sum(share.values()) == pytest.approx(1.0)
    rw = dict(zip(w["miner"], w["reward_weight"]))
    assert rw == pytest.approx({k: v * 0.5 for k, v in want.items()})
    # at day 3 the window holds R1 and R2
    w3 = reward_weights(scored, day(3), "24h")
    a3 = (0.0 + 14.8 * W_ETH) / (1 + W_ETH)
    b3 = (9.0 + 0.0) / (1 + W_ETH)
    c3 = (9.0 + 2.0 * W_ETH) / (1 + W_ETH)
    assert dict(zip(w3["miner"], w3["smoothed_score"])) == pytest.approx({"A": a3, "B": b3, "C": c3})
    # the 1h competition: 3-day window and beta -0.2; at day 12 only R3 is in it
    w1 = reward_weights(scored, day(12), "1h")
    assert dict(zip(w1["miner"], w1["share"])) == pytest.approx(dict(zip("ABC", hand_softmax([0, 0, 36], -0.2))))
    # edited asset weights: ETH weighing 3 changes A's average
    we = reward_weights(scored, day(12), "24h", weights={"ETH": 3.0})
    assert dict(zip(we["miner"], we["smoothed_score"]))["A"] == pytest.approx(14.8 * 3 / 4)


def test_a_late_miner_is_back_filled_with_the_worst_score():
    pop = pl.concat([POP, table([("R3", "BTC", day(12), "D", 5.0)])])
    scored = score_requests(pop)
    # R3 now: 5, 5, 50, 5 -> sorted 5, 5, 5, 50: p90 = 5 + 0.7 * 45 = 36.5; C capped 36.5 - 5 = 31.5
    assert by(scored)[("R3", "C")] == pytest.approx(31.5)
    w = reward_weights(scored, day(12), "24h")
    sm = dict(zip(w["miner"], w["smoothed_score"]))
    # D joined at R3, after the window's first request R2: R2's worst (26.8 - 12 = 14.8, ETH) is filled in
    assert sm["D"] == pytest.approx((14.8 * W_ETH + 0.0) / (W_ETH + 1.0))
    assert sm["C"] == pytest.approx((2.0 * W_ETH + 31.5) / (W_ETH + 1.0))


def test_softmax_matches_the_validator_formula():
    v = np.array([0.0, 10.0, 20.0])
    np.testing.assert_allclose(softmax(v, -0.1), hand_softmax(v, -0.1), rtol=1e-14)
    assert ASSET_WEIGHTS["SPYX"] == pytest.approx(3.4379, abs=1e-4) and ASSET_WEIGHTS["HYPE"] == pytest.approx(0.4785,
                                                                                                               abs=1e-4)


def test_simulate_over_time_and_summary():
    res = simulate(POP, "24h")
    assert res.over_time["time"].unique().sort().to_list() == [day(1), day(3), day(12)]
    s = {r["miner"]: r for r in res.summary.to_dicts()}
    assert s["C"]["n_invalid"] == 1 and s["C"]["mean_score"] == pytest.approx(32.0)  # valid: 14, 50
    assert s["A"]["mean_score"] == pytest.approx(15.0)
    # at day 1 only R1: smoothed A 0, B 9, C 9
    first = res.over_time.filter(pl.col("time") == day(1))
    assert dict(zip(first["miner"], first["share"])) == pytest.approx(dict(zip("ABC", hand_softmax([0, 9, 9], -0.1))))
    # B has the lowest mean score but a model that sometimes fails badly (C) earns least
    assert s["B"]["final_share"] > s["A"]["final_share"] > s["C"]["final_share"]
    d = res.to_dict()
    assert d["beta"] == -0.1 and d["window_days"] == 10 and len(d["summary"]) == 3


def test_insert_into_another_population_and_csv(tmp_path):
    csv = tmp_path / "pop.csv"
    POP.filter(pl.col("miner") != "A").with_columns(pl.col("scored_time").dt.strftime("%Y-%m-%dT%H:%M:%SZ")) \
        .drop("request").write_csv(csv)
    pop = read_population_csv(str(csv))
    assert pop.height == 6
    ours = table([("x1", "BTC", day(1), "mine", 10.0), ("x3", "BTC", day(12), "mine", 5.0),
                  ("x9", "BTC", day(20), "mine", 1.0)])
    merged, n = insert_models(pop, ours)
    assert n == 2  # R1 and R3 match on (asset, scored time); day 20 has no population request
    s = by(score_requests(merged))
    assert s[("BTC@2024-05-02T00:00:00Z", "mine")] == pytest.approx(0.0)  # as A in R1
    with pytest.raises(SpecError, match="both"):
        insert_models(pop, pop)
    bad = tmp_path / "bad.csv"
    bad.write_text("asset,miner\nBTC,a\n")
    with pytest.raises(SpecError, match="lacks column"):
        read_population_csv(str(bad))
    with pytest.raises(SpecError, match="24h and 1h"):
        reward_weights(score_requests(POP), day(12), "custom")


def test_from_per_origin():
    po = pl.DataFrame({"origin": [day(0), day(0)], "t0": [day(0) + timedelta(minutes=4)] * 2,
                       "model": ["m1", "m2"], "total": [100.0, None], "valid": [True, False]})
    t = from_per_origin(po, asset="BTC", time_length=86400)
    assert t["scored_time"].to_list() == [day(1) + timedelta(minutes=4)] * 2
    assert t["score"].to_list() == [100.0, None] and t["request"].n_unique() == 1


def test_compare_reward_command_prints_the_shares(demo_lake, tmp_path, capsys):
    from synthwb.cli import main

    args = ["compare", "--baselines", "gbm,garch,bootstrap", "--asset-class", "crypto", "--symbol", "BTC",
            "--freq", "5min", "--task", "24h", "--start", "2024-01-06", "--origins", "5", "--n-paths", "32",
            "--root", str(demo_lake), "--store", str(tmp_path / "store"), "--reward"]
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rew = data["reward"]
    # independently: per request cap at p90 (numpy, linear), minus the best; BTC weight 1 -> plain
    # mean over the 10-day window ending at the last scored time; softmax with beta -0.1
    po = pl.DataFrame(data["per_origin"]).with_columns(pl.col("origin").str.to_datetime(time_zone="UTC"))
    totals = {}
    for r in po.to_dicts():
        totals.setdefault(r["origin"], {})[r["model"]] = r["total"] if r["valid"] else -1.0
    origins = sorted(totals)
    last = origins[-1]
    in_window = [o for o in origins if o > last - timedelta(days=10)]
    models = ["bootstrap", "garch", "gbm"]
    prompt = {m: [] for m in models}
    for o in in_window:
        s = np.array([totals[o][m] for m in models])
        p90 = np.percentile(s[s != -1], 90)
        capped = np.where(s == -1, p90, np.minimum(s, p90))
        for m, v in zip(models, capped - capped.min()):
            prompt[m].append(v)
    smoothed = [sum(prompt[m]) / len(prompt[m]) for m in models]
    want = dict(zip(models, hand_softmax(smoothed, -0.1)))
    got = {r["miner"]: r["final_share"] for r in rew["summary"]}
    assert got == pytest.approx(want, rel=1e-9)
    assert rew["beta"] == -0.1 and rew["asset_weights"] == {"BTC": 1.0}
    # the text form prints the shares table
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Synth reward (24h prompt: window 10 days, beta -0.1" in out and "final_share" in out
