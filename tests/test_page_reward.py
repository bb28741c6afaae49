"""AppTest: Compare's "Synth reward" tab renders the reward simulation, with the shares the
CLI prints for `compare ... --reward`."""
from __future__ import annotations

import io
import json
import time
from contextlib import redirect_stdout

import pytest
from apptest_support import DEMO_SIDEBAR, open_page

from synthwb.jobs.registry import get_registry


def test_reward_tab_shows_the_shares_of_the_cli(page_env, demo_lake):
    store = page_env
    at = open_page("compare", timeout=180, **DEMO_SIDEBAR)
    assert not at.exception, at.exception
    at.multiselect(key="cmp_baselines").set_value(["gbm", "garch"]).run()
    at.selectbox(key="cmp_task").set_value("24h")
    at.number_input(key="cmp_origins").set_value(4)
    at.number_input(key="cmp_paths").set_value(32)
    at.run()
    at.button(key="cmp_go").click().run()
    assert get_registry().wait_all(240), "the comparison did not finish"
    time.sleep(0.05)
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any(t.label == "Synth reward" for t in at.tabs)
    tables = [d.value for d in at.dataframe if "final_share" in d.value.columns]
    assert len(tables) == 1
    page = dict(zip(tables[0]["miner"], tables[0]["final_share"]))
    assert set(page) == {"gbm", "garch"} and sum(page.values()) == pytest.approx(1.0)
    assert any("10-day rolling window" in c.value for c in at.caption)

    sel = at.session_state["synthwb_selection"]
    from synthwb.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        rc = main(["compare", "--root", str(demo_lake), "--store", str(store), "--baselines", "gbm,garch",
                   "--asset-class", sel.asset_class, "--symbol", sel.symbol, "--freq", sel.freq, "--task", "24h",
                   "--start", sel.start.isoformat(), "--end", sel.end.isoformat(), "--origins", "4",
                   "--n-paths", "32", "--seed", "0", "--reward", "--json"])
    assert rc == 0
    cli = {r["miner"]: r["final_share"] for r in json.loads(out.getvalue())["reward"]["summary"]}
    assert page == pytest.approx(cli, rel=1e-12)
