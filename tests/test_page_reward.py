"""AppTest: Compare's "Synth reward" tab renders the reward simulation under the session's
validator version (one panel per competition, the combined expected share of miner emissions),
with the shares the CLI prints for `compare ... --reward [--validator V]`."""
from __future__ import annotations

import io
import json
import time
from contextlib import redirect_stdout

import pytest
from apptest_support import DEMO_SIDEBAR, open_page

from synthwb.jobs.registry import get_registry


def _compare_on_page(at) -> None:
    """Press Compare, wait for the job, redraw; the page shows no exception and no error."""
    at.run()
    at.button(key="cmp_go").click().run()
    assert get_registry().wait_all(240), "the comparison did not finish"
    time.sleep(0.05)
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def _compare_on_cli(lake, store, sel, baselines: str, origins: int, *extra: str) -> tuple[int, dict]:
    """`compare ... --reward --json` on the page's selection: (exit code, the JSON document)."""
    from synthwb.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        rc = main(["compare", "--classical", "none", "--root", str(lake), "--store", str(store), "--baselines", baselines,
                   "--asset-class", sel.asset_class, "--symbol", sel.symbol, "--freq", sel.freq, "--task", "24h",
                   "--start", sel.start.isoformat(), "--end", sel.end.isoformat(), "--origins", str(origins),
                   "--n-paths", "32", "--seed", "0", "--reward", *extra, "--json"])
    return rc, json.loads(out.getvalue()) if rc == 0 else {}


def test_reward_tab_shows_the_shares_of_the_cli(page_env, demo_lake):
    store = page_env
    at = open_page("compare", timeout=180, **DEMO_SIDEBAR)
    assert not at.exception, at.exception
    at.multiselect(key="cmp_baselines").set_value(["gbm", "garch"]).run()
    at.multiselect(key="cmp_classical").set_value([]).run()
    at.selectbox(key="cmp_task").set_value("24h")
    at.number_input(key="cmp_origins").set_value(4)
    at.number_input(key="cmp_paths").set_value(32)
    _compare_on_page(at)
    assert any(t.label == "Synth reward" for t in at.tabs)
    tables = [d.value for d in at.dataframe if "final_share" in d.value.columns]
    assert len(tables) == 1  # BTC counts for one competition of the newest version: Crypto 24h
    page = dict(zip(tables[0]["miner"], tables[0]["final_share"]))
    assert set(page) == {"gbm", "garch"} and sum(page.values()) == pytest.approx(1.0)
    assert any("10-day rolling window" in c.value and "beta -0.15" in c.value for c in at.caption)
    assert any("validator 2026-09" in c.value for c in at.caption)
    assert [s.value for s in at.subheader if "(24h)" in s.value] == ["Crypto 24h (24h)"]
    expected = next(d.value for d in at.dataframe if "expected_share" in d.value.columns)
    page_exp = dict(zip(expected["miner"], expected["expected_share"]))
    assert page_exp == pytest.approx({m: v / 3 for m, v in page.items()})

    sel = at.session_state["synthwb_selection"]
    rc, doc = _compare_on_cli(demo_lake, store, sel, "gbm,garch", 4)
    assert rc == 0 and doc["reward"]["validator"] == "2026-09"
    cli = {r["miner"]: r["final_share"] for r in doc["reward"]["competitions"]["crypto-24h"]["summary"]}
    assert page == pytest.approx(cli, rel=1e-12)
    assert page_exp == pytest.approx({r["miner"]: r["expected_share"] for r in doc["reward"]["expected"]}, rel=1e-12)

    # VHFT blended in: the same on both sides, each competition pays 1/4
    at.checkbox(key="rw_vhft").check().run()
    assert not at.exception, at.exception
    expected = next(d.value for d in at.dataframe if "expected_share" in d.value.columns)
    assert list(expected["vhft"]) == [0.0, 0.0]
    page_v = dict(zip(expected["miner"], expected["expected_share"]))
    assert page_v == pytest.approx({m: v / 4 for m, v in page.items()})
    rc, doc = _compare_on_cli(demo_lake, store, sel, "gbm,garch", 4, "--vhft")
    assert rc == 0 and doc["reward"]["vhft"] is True
    assert page_v == pytest.approx({r["miner"]: r["expected_share"] for r in doc["reward"]["expected"]}, rel=1e-12)


def test_reward_over_several_assets_matches_the_cli(page_env, demo_lake):
    """More assets on the Compare page: the same models are scored on ETH too, the leaderboard
    stays on BTC, and the reward's population counts both assets' requests, as the CLI's
    `compare --reward --assets ETH` does; here under validator 2026-05 (the session's version),
    as `--validator 2026-05`."""
    store = page_env
    at = open_page("compare", timeout=180, **DEMO_SIDEBAR)
    assert not at.exception, at.exception
    at.session_state["validator"] = "2026-05"
    assert set(at.multiselect(key="cmp_assets").options) == {"ETH", "SOL"}  # crypto symbols but BTC; not SPY
    at.multiselect(key="cmp_baselines").set_value(["gbm", "gbm_ewma"])
    at.multiselect(key="cmp_classical").set_value([])
    at.multiselect(key="cmp_assets").set_value(["ETH"])
    at.number_input(key="cmp_origins").set_value(3)
    at.number_input(key="cmp_paths").set_value(32)
    _compare_on_page(at)
    weights = [d.value for d in at.dataframe if list(d.value.columns) == ["asset", "weight"]]
    assert len(weights) == 1 and list(weights[0]["asset"]) == ["BTC", "ETH"]
    assert weights[0]["weight"].tolist() == pytest.approx([1.0, 0.7064366394033871])  # the validator's table
    summary = next(d.value for d in at.dataframe if "final_share" in d.value.columns)
    page = dict(zip(summary["miner"], summary["final_share"]))
    n_req = dict(zip(summary["miner"], summary["n_requests"]))
    assert set(page) == {"gbm", "gbm_ewma"} and sum(page.values()) == pytest.approx(1.0)
    board = next(d.value for d in at.dataframe if "rank" in d.value.columns)
    assert int(board["n_origins"].max()) <= 3  # the leaderboard: BTC's origins only

    assert any("validator 2026-05" in c.value and "90th percentile" in c.value for c in at.caption)
    expected = next(d.value for d in at.dataframe if "expected_share" in d.value.columns)
    page_exp = dict(zip(expected["miner"], expected["of_validator_weight"]))
    assert page_exp == pytest.approx({m: v / 4 for m, v in page.items()})  # 1/2 of miners' half

    sel = at.session_state["synthwb_selection"]
    rc, doc = _compare_on_cli(demo_lake, store, sel, "gbm,gbm_ewma", 3, "--assets", "ETH", "--validator", "2026-05")
    assert rc == 0
    low = doc["reward"]["competitions"]["24h"]
    cli = {r["miner"]: r["final_share"] for r in low["summary"]}
    assert page == pytest.approx(cli, rel=1e-12)
    assert {r["miner"]: r["n_requests"] for r in low["summary"]} == n_req
    assert all(n > 3 for n in n_req.values())  # BTC and ETH requests: more than one asset's 3 origins
    assert low["asset_weights"] == pytest.approx({"BTC": 1.0, "ETH": 0.7064366394033871})
    assert page_exp == pytest.approx({r["miner"]: r["of_validator_weight"] for r in doc["reward"]["expected"]},
                                     rel=1e-12)
