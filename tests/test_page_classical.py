"""AppTest of the classical fit section (ui/classical_view.py on the Model Builder page): fit a
GJR-GARCH on the demo lake's BTC 5-minute bars; the run is saved as kind ``classical`` and the
Backtest page lists it."""
from __future__ import annotations

from apptest_support import DEMO_SIDEBAR, open_page

from synthwb.store.runs import list_runs, load_run


def test_fit_classical_from_the_page(page_env):
    at = open_page("model_builder", **DEMO_SIDEBAR)
    assert not at.exception, at.exception
    at.selectbox(key="cls_model").set_value("gjr-garch")
    at.run()
    at.number_input(key="cls_gjr-garch_window_days").set_value(7.0)
    at.text_input(key="cls_name").set_value("btc gjr page")
    [b for b in at.button if b.label == "Fit and save"][0].click()
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("btc-gjr-page" in s.value for s in at.success)
    run = load_run("btc-gjr-page", page_env)
    assert run.kind == "classical" and run.info["config"]["params"]["window_days"] == 7.0
    assert [r["run_id"] for r in list_runs(page_env) if r["usable"]] == ["btc-gjr-page"]
    at.switch_page("app_pages/backtest.py")
    at.run()
    assert not at.exception, at.exception
    texts = " ".join(str(getattr(w, "options", "")) for w in at.selectbox) + " ".join(
        str(getattr(w, "options", "")) for w in at.multiselect)
    assert "btc-gjr-page" in texts
