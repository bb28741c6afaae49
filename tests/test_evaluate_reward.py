"""The Synth reward on a hand-computed population, by validator version. 2026-05 (the figures of
before issue 21, reproduced exactly): cap at p90, invalid -> p90, minus the best, the rolling
window, asset weights, late-joiner back-fill and the softmax. 2026-09: clip at 10x the median,
misses -> p95 of the unclipped, back-fill per scored time, three competitions over their own
assets at 1/3 each (1/4 with VHFT), the new asset weights. Then the same on real backtest
per-origin scores and the `compare --reward` command."""
from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from synthwb.core.errors import SpecError
from synthwb.evaluate.reward import (
    competition_for,
    competition_shares,
    from_per_origin,
    insert_models,
    prompt_scores,
    read_population_csv,
    reward_weights,
    score_requests,
    simulate,
    simulate_competitions,
    softmax,
)
from synthwb.scoring.versions import get_validator

OLD = "2026-05"  # the rules synthwb followed before issue 21: these tests encode its figures

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
    ps, p90, low = prompt_scores([10.0, 20.0, -1.0], OLD)
    assert p90 == pytest.approx(19.0) and low == 10.0
    np.testing.assert_allclose(ps, [0.0, 9.0, 9.0])
    assert prompt_scores([-1.0, np.nan], OLD) == (None, 0.0, 0.0)
    s = by(score_requests(POP, OLD))
    want = {("R1", "A"): 0, ("R1", "B"): 9, ("R1", "C"): 9, ("R2", "A"): 14.8, ("R2", "B"): 0, ("R2", "C"): 2,
            ("R3", "A"): 0, ("R3", "B"): 0, ("R3", "C"): 36}
    assert s == pytest.approx(want)


def hand_softmax(values, beta):
    e = [math.exp(beta * v) for v in values]
    return [x / sum(e) for x in e]


def test_window_weights_and_softmax_by_hand():
    scored = score_requests(POP, OLD)
    # at day 12 the 10-day window (day 2, day 12] holds R2 (ETH) and R3 (BTC); R1 has left
    w = reward_weights(scored, day(12), "24h", validator=OLD)
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
    w3 = reward_weights(scored, day(3), "24h", validator=OLD)
    a3 = (0.0 + 14.8 * W_ETH) / (1 + W_ETH)
    b3 = (9.0 + 0.0) / (1 + W_ETH)
    c3 = (9.0 + 2.0 * W_ETH) / (1 + W_ETH)
    assert dict(zip(w3["miner"], w3["smoothed_score"])) == pytest.approx({"A": a3, "B": b3, "C": c3})
    # the 1h competition: 3-day window and beta -0.2; at day 12 only R3 is in it
    w1 = reward_weights(scored, day(12), "1h", validator=OLD)
    assert dict(zip(w1["miner"], w1["share"])) == pytest.approx(dict(zip("ABC", hand_softmax([0, 0, 36], -0.2))))
    # edited asset weights: ETH weighing 3 changes A's average
    we = reward_weights(scored, day(12), "24h", weights={"ETH": 3.0}, validator=OLD)
    assert dict(zip(we["miner"], we["smoothed_score"]))["A"] == pytest.approx(14.8 * 3 / 4)


def test_a_late_miner_is_back_filled_with_the_worst_score():
    pop = pl.concat([POP, table([("R3", "BTC", day(12), "D", 5.0)])])
    scored = score_requests(pop, OLD)
    # R3 now: 5, 5, 50, 5 -> sorted 5, 5, 5, 50: p90 = 5 + 0.7 * 45 = 36.5; C capped 36.5 - 5 = 31.5
    assert by(scored)[("R3", "C")] == pytest.approx(31.5)
    w = reward_weights(scored, day(12), "24h", validator=OLD)
    sm = dict(zip(w["miner"], w["smoothed_score"]))
    # D joined at R3, after the window's first request R2: R2's worst (26.8 - 12 = 14.8, ETH) is filled in
    assert sm["D"] == pytest.approx((14.8 * W_ETH + 0.0) / (W_ETH + 1.0))
    assert sm["C"] == pytest.approx((2.0 * W_ETH + 31.5) / (W_ETH + 1.0))


def test_softmax_matches_the_validator_formula():
    v = np.array([0.0, 10.0, 20.0])
    np.testing.assert_allclose(softmax(v, -0.1), hand_softmax(v, -0.1), rtol=1e-14)
    old = get_validator(OLD).asset_weights
    assert old["SPYX"] == pytest.approx(3.4379, abs=1e-4) and old["HYPE"] == pytest.approx(0.4785, abs=1e-4)


def test_simulate_over_time_and_summary():
    res = simulate(POP, "24h", validator=OLD)
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
    s = by(score_requests(merged, OLD))
    assert s[("BTC@2024-05-02T00:00:00Z", "mine")] == pytest.approx(0.0)  # as A in R1
    with pytest.raises(SpecError, match="both"):
        insert_models(pop, pop)
    bad = tmp_path / "bad.csv"
    bad.write_text("asset,miner\nBTC,a\n")
    with pytest.raises(SpecError, match="lacks column"):
        read_population_csv(str(bad))
    with pytest.raises(SpecError, match="24h and 1h"):
        reward_weights(score_requests(POP, OLD), day(12), "custom", validator=OLD)


def test_from_per_origin():
    po = pl.DataFrame({"origin": [day(0), day(0)], "t0": [day(0) + timedelta(minutes=4)] * 2,
                       "model": ["m1", "m2"], "total": [100.0, None], "valid": [True, False]})
    t = from_per_origin(po, asset="BTC", time_length=86400)
    assert t["scored_time"].to_list() == [day(1) + timedelta(minutes=4)] * 2
    assert t["score"].to_list() == [100.0, None] and t["request"].n_unique() == 1


# ------------------------------------------------------------------ 2026-09 (and the two side by side)


def hand_percentile(values, q):
    """Linear interpolation between closest ranks (numpy's default), written out."""
    v = sorted(values)
    pos = (len(v) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (pos - lo) * (v[hi] - v[lo])


def hand_median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def hand_2609(scores):
    """The 2026-09 rule as a plain loop: clip valid scores at 10x the median (when positive),
    misses get the p95 of the valid scores that were not clipped, minus the lowest."""
    valid = [x for x in scores if x != -1]
    med = hand_median(valid)
    cap = 10 * med if med > 0 else math.inf
    unclipped = [x for x in valid if x <= cap] or [min(x, cap) for x in valid]
    p95 = hand_percentile(unclipped, 95)
    filled = [p95 if x == -1 else min(x, cap) for x in scores]
    return [f - min(filled) for f in filled]


def hand_2605(scores):
    valid = [x for x in scores if x != -1]
    p90 = hand_percentile(valid, 90)
    filled = [p90 if x == -1 else min(x, p90) for x in scores]
    return [f - min(filled) for f in filled]


EXAMPLE = [100, 101, 102, 105, 110, 130, 200, 5000, -1, -1]


def test_the_transform_example_under_both_versions():
    new = [0, 1, 2, 5, 10, 30, 100, 975, 79, 79]
    old = [0, 1, 2, 5, 10, 30, 100, 1540, 1540, 1540]
    assert hand_2609(EXAMPLE) == pytest.approx(new) and hand_2605(EXAMPLE) == pytest.approx(old)
    ps, fill, low = prompt_scores(EXAMPLE, "2026-09")
    np.testing.assert_allclose(ps, new, atol=1e-9)
    assert fill == pytest.approx(179.0) and low == 100.0  # p95 of the 7 unclipped: 130 + 0.7 * 70
    np.testing.assert_allclose(prompt_scores(EXAMPLE, OLD)[0], old, atol=1e-9)
    np.testing.assert_allclose(prompt_scores(EXAMPLE)[0], new, atol=1e-9)  # the newest is the default
    # the clipped score is flagged; a median <= 0 clips nothing
    scored = score_requests(table([("R", "BTC", day(1), f"m{i}", float(x)) for i, x in enumerate(EXAMPLE)]),
                            "2026-09")
    assert scored.filter(pl.col("capped"))["miner"].to_list() == ["m7"]
    np.testing.assert_allclose(prompt_scores([0.0, 0.0, 0.0, 7.0, -1], "2026-09")[0], hand_2609([0, 0, 0, 7, -1]))
    # random requests against the plain loops
    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(2, 30))
        x = np.round(rng.lognormal(5, rng.uniform(0.1, 2.5), n), 3)
        x[rng.random(n) < 0.2] = -1
        if (x == -1).all():
            continue
        np.testing.assert_allclose(prompt_scores(x, "2026-09")[0], hand_2609(list(x)), rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(prompt_scores(x, OLD)[0], hand_2605(list(x)), rtol=1e-12, atol=1e-9)


def test_2026_09_back_fill_per_scored_time():
    # R1 BTC and R2 ETH share scored time day 1; D joins at R3 (day 2)
    # R1: 10, 20, 30 -> no clip (median 20); p95 = 20 + 0.9 * 10 = 29; lowest 10 -> worst 19
    #     (2026-05: p90 = 28, worst 18)
    # R2: 40, 10, 10 -> no clip (median 10, cap 100); p95 = 10 + 0.9 * 30 = 37 -> worst 27 (2026-05: 34, 24)
    # R3: all 10 -> 0
    pop = table([("R1", "BTC", day(1), "A", 10.0), ("R1", "BTC", day(1), "B", 20.0), ("R1", "BTC", day(1), "C", 30.0),
                 ("R2", "ETH", day(1), "A", 40.0), ("R2", "ETH", day(1), "B", 10.0), ("R2", "ETH", day(1), "C", 10.0),
                 *[("R3", "BTC", day(2), m, 10.0) for m in "ABCD"]])
    w = reward_weights(score_requests(pop, "2026-09"), day(2), "crypto-24h", validator="2026-09")
    sm = dict(zip(w["miner"], w["smoothed_score"]))
    # one back-fill row for day 1, from its first request (R1, BTC): (19 * 1 + 0 * 1) / 2
    assert sm["D"] == pytest.approx(9.5)
    assert sm["A"] == pytest.approx((0 * 1 + 30 * W_ETH + 0) / (2 + W_ETH))
    # 2026-05: one row per earlier request, R1 (BTC) and R2 (ETH)
    w5 = reward_weights(score_requests(pop, OLD), day(2), "24h", validator=OLD)
    assert dict(zip(w5["miner"], w5["smoothed_score"]))["D"] == pytest.approx((18 + 24 * W_ETH) / (2 + W_ETH))


def test_asset_weights_by_version():
    new, old = get_validator("2026-09"), get_validator(OLD)
    assert new.asset_weights["SP500"] == 3.437935601155441 and new.asset_weights["SPCX"] == 0.4329342627683478
    assert "SPYX" not in new.asset_weights and old.asset_weights["SPYX"] == 3.437935601155441
    from synthwb.evaluate.reward import asset_weight

    assert asset_weight("SP500") == 3.437935601155441 and asset_weight("SPYX") == 1.0  # default: the newest
    assert asset_weight("SP500", validator=OLD) == 1.0 and asset_weight("SPCX", validator=OLD) == 1.0
    assert asset_weight("ETH", validator="2026-09") == W_ETH == asset_weight("ETH", validator=OLD)
    assert asset_weight("SP500", {"SP500": 2.0}) == 2.0


def test_competitions_by_key_and_assets():
    assert competition_for("1h").key == "crypto-1h" and competition_for("1h", OLD).label == "high"
    assert competition_for("comequ-24h").assets[-1] == "SP500"
    assert competition_for("24h", assets=["XAU", "SP500", "BTC"]).key == "comequ-24h"
    with pytest.raises(SpecError, match="name one"):
        competition_for("24h")
    c = competition_for("crypto-1h")
    assert (c.window_days, c.beta, c.share) == (5, -0.3, pytest.approx(1 / 3))
    for k in ("crypto-24h", "comequ-24h"):
        assert (competition_for(k).window_days, competition_for(k).beta) == (10, -0.15)


def _mixed():
    """24h requests on BTC, XAU and SPY (which no competition counts), 1h requests on BTC; miners
    A and B are in every competition, E only in the 24h ones."""
    rows24, rows1 = [], []
    rng = np.random.default_rng(1)
    for d in range(4):
        for asset in ("BTC", "XAU", "SPY"):
            for m in "ABE":
                rows24.append((f"{asset}@{d}", asset, day(d), m, float(rng.uniform(50, 150))))
        for h in range(3):
            for m in "AB":
                rows1.append((f"1h@{d}.{h}", "BTC", day(d) + timedelta(hours=h), m, float(rng.uniform(5, 15))))
    return table(rows24), table(rows1)


def test_three_competitions_assets_and_shares():
    t24, t1 = _mixed()
    comb = simulate_competitions({"24h": t24, "1h": t1})
    assert list(comb.results) == ["crypto-1h", "crypto-24h", "comequ-24h"]
    assert comb.ignored_assets == {"24h": ["SPY"]}
    # each competition over its own assets only, as simulate() on the filtered table
    assert comb.results["crypto-24h"].weights == {"BTC": 1.0}
    assert comb.results["comequ-24h"].weights == {"XAU": 1.7370922597118699}
    alone = simulate(t24.filter(pl.col("asset") == "XAU"), "comequ-24h")
    assert comb.results["comequ-24h"].summary.equals(alone.summary)
    assert comb.results["comequ-24h"].summary["n_requests"].to_list() == [4, 4, 4]
    assert set(comb.results["crypto-1h"].summary["miner"]) == {"A", "B"}
    # the expected share: final share x 1/3 per competition, summed; all three present -> 1 in all
    exp = {r["miner"]: r for r in comb.expected.to_dicts()}
    fin = {k: dict(zip(r.summary["miner"], r.summary["final_share"])) for k, r in comb.results.items()}
    for m in "ABE":
        assert exp[m]["expected_share"] == pytest.approx(sum(f.get(m, 0.0) for f in fin.values()) / 3, rel=1e-12)
    assert exp["E"]["crypto-1h"] is None
    assert sum(exp[m]["expected_share"] for m in exp) == pytest.approx(1.0)
    assert comb.shares == pytest.approx({"crypto-1h": 1 / 3, "crypto-24h": 1 / 3, "comequ-24h": 1 / 3})
    assert exp["A"]["of_validator_weight"] == exp["A"]["expected_share"]  # no owner burn
    d = comb.to_dict()
    assert d["validator"] == "2026-09" and d["commit"] == "2cfb24b" and "no owner burn" in d["emission_rule"].lower()
    assert d["competitions"]["crypto-1h"]["beta"] == -0.3 and "10x their median" in d["transform_rule"]
    # VHFT blended in: each of the three pays 1/4, the models earn 3/4 of miner emissions at most
    v = simulate_competitions({"24h": t24, "1h": t1}, vhft=True)
    assert sum(v.shares.values()) == pytest.approx(1.0) and v.shares["vhft"] == pytest.approx(0.25)
    assert all(v.shares[k] == pytest.approx(0.25) for k in v.results)
    assert v.expected["expected_share"].sum() == pytest.approx(0.75)
    assert v.expected["vhft"].to_list() == [0.0, 0.0, 0.0]
    assert competition_shares("2026-09", vhft=True) == v.shares
    # one table with a task column is the same as the mapping
    both = pl.concat([t24.with_columns(pl.lit("24h").alias("task")), t1.with_columns(pl.lit("1h").alias("task"))])
    assert simulate_competitions(both).expected.equals(comb.expected)


def test_2026_05_two_prompts_and_the_owner_half():
    t24, t1 = _mixed()
    comb = simulate_competitions({"24h": t24, "1h": t1}, validator=OLD)
    assert list(comb.results) == ["24h", "1h"] and comb.ignored_assets == {"24h": ["SPY"]}
    assert comb.results["24h"].weights == {"BTC": 1.0, "XAU": 1.7370922597118699}  # one prompt, 12 assets
    assert comb.shares == {"24h": 0.5, "1h": 0.5}
    assert comb.expected["expected_share"].sum() == pytest.approx(1.0)
    assert comb.expected["of_validator_weight"].sum() == pytest.approx(0.5)  # the owner took half
    # the 24h prompt's numbers are those of simulate() on the old rules
    old = simulate(t24.filter(pl.col("asset") != "SPY"), "24h", validator=OLD)
    assert comb.results["24h"].summary.equals(old.summary)
    with pytest.raises(SpecError, match="no VHFT"):
        simulate_competitions(t24, "24h", validator=OLD, vhft=True)
    with pytest.raises(SpecError, match="counts"):
        simulate_competitions(t24.filter(pl.col("asset") == "SPY"), "24h")


def test_2026_09_window_and_beta_by_hand():
    # Crypto 1h: 5-day window, beta -0.3; at day 6 only the day-6 request is in it
    t = table([("a", "ETH", day(0), "A", 10.0), ("a", "ETH", day(0), "B", 40.0),
               ("b", "ETH", day(6), "A", 30.0), ("b", "ETH", day(6), "B", 20.0), ("b", "ETH", day(6), "C", -1.0)])
    res = simulate(t, "crypto-1h")
    # b: median 25, no clip; p95 of [20, 30] = 29.5; filled 30, 20, 29.5 -> 10, 0, 9.5
    last = dict(zip(res.summary["miner"], res.summary["final_share"]))
    assert last == pytest.approx(dict(zip("ABC", hand_softmax([10, 0, 9.5], -0.3))), rel=1e-12)
    d = res.to_dict()
    assert d["validator"] == "2026-09" and d["key"] == "crypto-1h" and d["window_days"] == 5 and d["share"] == 1 / 3


def test_compare_reward_command_prints_the_shares(demo_lake, tmp_path, capsys):
    from synthwb.cli import main

    args = ["compare", "--classical", "none", "--baselines", "gbm,garch,bootstrap", "--asset-class", "crypto", "--symbol", "BTC",
            "--freq", "5min", "--task", "24h", "--start", "2024-01-06", "--origins", "5", "--n-paths", "32",
            "--root", str(demo_lake), "--store", str(tmp_path / "store"), "--reward"]
    assert main([*args, "--validator", OLD, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rew = data["reward"]
    assert rew["validator"] == OLD and list(rew["competitions"]) == ["24h"]
    # independently: per request cap at p90 (numpy, linear), minus the best; BTC weight 1 -> plain
    # mean over the 10-day window ending at the last scored time; softmax with beta -0.1
    po = pl.DataFrame(data["per_origin"]).with_columns(pl.col("origin").str.to_datetime(time_zone="UTC"))
    totals = {}
    for r in po.to_dicts():
        totals.setdefault(r["origin"], {})[r["model"]] = r["total"] if r["valid"] else -1.0
    origins = sorted(totals)
    last = origins[-1]
    models = ["bootstrap", "garch", "gbm"]

    def final_shares(transform, window, beta):
        prompt = {m: [] for m in models}
        for o in [o for o in origins if o > last - timedelta(days=window)]:
            for m, v in zip(models, transform([totals[o][m] for m in models])):
                prompt[m].append(v)
        return dict(zip(models, hand_softmax([sum(prompt[m]) / len(prompt[m]) for m in models], beta)))

    old = rew["competitions"]["24h"]
    got = {r["miner"]: r["final_share"] for r in old["summary"]}
    assert got == pytest.approx(final_shares(hand_2605, 10, -0.1), rel=1e-9)
    assert old["beta"] == -0.1 and old["asset_weights"] == {"BTC": 1.0}
    exp = {r["miner"]: r for r in rew["expected"]}
    assert {m: exp[m]["expected_share"] for m in models} == pytest.approx({m: 0.5 * got[m] for m in models})
    assert {m: exp[m]["of_validator_weight"] for m in models} == pytest.approx({m: 0.25 * got[m] for m in models})
    # the default, 2026-09: the Crypto 24h competition (BTC counts), clip at 10x the median, beta -0.15
    assert main([*args, "--json"]) == 0
    new = json.loads(capsys.readouterr().out)["reward"]
    assert new["validator"] == "2026-09" and list(new["competitions"]) == ["crypto-24h"]
    got = {r["miner"]: r["final_share"] for r in new["competitions"]["crypto-24h"]["summary"]}
    assert got == pytest.approx(final_shares(hand_2609, 10, -0.15), rel=1e-9)
    assert {r["miner"]: r["expected_share"] for r in new["expected"]} == pytest.approx({m: got[m] / 3 for m in models})
    # the text form prints one panel per competition and the expected share; --vhft: 1/4 each
    assert main([*args, "--vhft"]) == 0
    out = capsys.readouterr().out
    assert "Synth reward under validator 2026-09" in out and "Crypto 24h (24h; counts BTC ETH SOL XRP HYPE; " \
        "window 10 days, beta -0.15; pays 1/4 of miner emissions)" in out
    assert "final_share" in out and "expected share of miner emissions" in out and "VHFT 10s" in out
    assert main([*args, "--validator", OLD]) == 0
    out = capsys.readouterr().out
    assert "low (24h; counts BTC" in out and "window 10 days, beta -0.1; pays 1/2 of miner emissions" in out
