"""How fast pages answer in a browser: page switches and tab/view changes on the demo lake.

Builds the demo lake (2 years of 1-minute bars, as the Data Explorer's button does), a 5-minute
feature set and a short trained run, starts `streamlit run app.py` (scripts/screenshot.py),
and drives Debian's Chromium through Playwright: every page of the navigation in turn, then
the Data Explorer's and Feature Lab's views. A time is from the click to the end of the script
run it started (the websocket's ``script_finished``), once the page's marker text is shown.
Each switch is done ``--rounds`` times after one warm-up round (the first visit of a page in a
fresh server imports its modules and fills the caches); prints the median and worst.

    OMP_NUM_THREADS=2 .venv/bin/python bench/bench_pages.py [--rounds 3] [--years 2]

Goal: every page switch and view change under 1 s.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from screenshot import ScriptRuns, launch_browser, streamlit_server, wait_idle  # noqa: E402

PAGES = ["Feature Lab", "Model Builder", "Train", "Moirai", "Backtest", "Compare", "Research", "Data Explorer"]
# (page, view label, text shown only in that view)
VIEWS = [("Data Explorer", "Data quality", "Coverage calendar"), ("Data Explorer", "Statistics", "Total return"),
         ("Data Explorer", "Export", "Download CSV"), ("Data Explorer", "Chart", "Mark gaps"),
         ("Feature Lab", "Chart", "Oscillator panels"), ("Feature Lab", "Correlation", "Correlation of"),
         ("Feature Lab", "Selection", "Run selection on the training split"), ("Feature Lab", "Preview", "last 500 of")]


def setup(tmp: Path, years: float) -> dict:
    from synthwb.data.demo import generate_demo_lake
    from synthwb.data.lake import inventory
    from synthwb.data.schema import Selection
    from synthwb.features.featureset import create_featureset, save_featureset
    from synthwb.features.registry import default_spec
    from synthwb.train import train

    lake, store = tmp / "lake", tmp / "store"
    generate_demo_lake(root=lake, years=years, seed=0)
    hi = inventory(lake)["end"].max()
    sel = Selection("crypto", "BTC", "5min", hi - timedelta(days=90), hi)  # the sidebar's default range
    fs = create_featureset("btc-5min", sel, default_spec("5min"), None, root=lake)
    save_featureset(fs, store)
    train("bench-run", "btc-5min", "anchored-term", {"max_steps": 3, "max_val_batches": 1, "calibrate": False},
          store=store, root=lake)
    return {"SYNTHWB_DATA_DIR": str(lake), "SYNTHWB_STORE_DIR": str(store), "SYNTHWB_CACHE_DIR": str(tmp / "cache")}


def timed(page, runs: ScriptRuns, action, marker) -> float:
    """Seconds from the action to the end of the script run it started; an action that starts
    none (a click on an st.tabs tab is drawn by the browser alone) counts until its marker shows."""
    n, started = runs.count, runs.started
    t0 = time.perf_counter()
    action()
    deadline = t0 + 60
    while time.perf_counter() < deadline:
        if runs.started > started or runs.count > n:
            dt = runs.wait_after(n, t0)
            marker.first.wait_for(timeout=60_000)
            return dt
        if marker.first.is_visible():
            shown = time.perf_counter() - t0
            page.wait_for_timeout(300)
            if runs.started == started and runs.count == n:
                return shown
            continue
        page.wait_for_timeout(20)
    raise TimeoutError("neither a script run nor the marker after the action")


def go(page, runs, title: str) -> float:
    nav = page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True)
    return timed(page, runs, nav.click, page.get_by_role("heading", name=re.compile(title)))


def view(page, runs, label: str, marker: str) -> float:
    main = page.locator('[data-testid="stMain"]')
    # a segmented control's options are radios; st.tabs' are tabs (the bench also times the old layout)
    btn = main.get_by_role("radio", name=label, exact=True).or_(main.get_by_role("tab", name=label, exact=True))
    return timed(page, runs, btn.first.click, main.get_by_text(marker))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--years", type=float, default=2.0)
    ap.add_argument("--data", help="folder for the lake and store, reused when it holds them (default: a temp dir)")
    ap.add_argument("--only", help="time only the pages and views whose name contains this text")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every timing as it is taken")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    tmp = Path(a.data) if a.data else Path(tempfile.mkdtemp(prefix="bench_pages_"))
    t = time.perf_counter()
    if (tmp / "store" / "bench-run").is_dir():
        env = {"SYNTHWB_DATA_DIR": str(tmp / "lake"), "SYNTHWB_STORE_DIR": str(tmp / "store"),
               "SYNTHWB_CACHE_DIR": str(tmp / "cache")}
    else:
        env = setup(tmp, a.years)
        print(f"setup (demo lake {a.years:g} years, feature set, 3-step run): {time.perf_counter() - t:.1f} s")
    pages = [p for p in PAGES if not a.only or a.only in p]
    view_list = [v for v in VIEWS if not a.only or a.only in f"{v[0]}: {v[1]}"]
    switches: dict[str, list[float]] = {p: [] for p in pages}
    views: dict[str, list[float]] = {f"{p}: {v}": [] for p, v, _ in view_list}
    with streamlit_server(env) as base, sync_playwright() as p:
        browser = launch_browser(p)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        runs = ScriptRuns(page)
        page.goto(base)
        wait_idle(page, timeout_ms=120_000)
        for r in range(a.rounds + 1):
            for title in pages:
                dt = go(page, runs, title)
                if a.verbose:
                    print(f"round {r} {title}: {dt:.3f} s", flush=True)
                if r:
                    switches[title].append(dt)
            for pg, label, marker in view_list:
                if page.get_by_role("heading", name=pg).count() == 0:
                    go(page, runs, pg)
                dt = view(page, runs, label, marker)
                if a.verbose:
                    print(f"round {r} {pg}: {label}: {dt:.3f} s", flush=True)
                if r:
                    views[f"{pg}: {label}"].append(dt)
        browser.close()
    print(f"\n{'page switch / view change':<36} {'median':>8} {'worst':>8}   (s, {a.rounds} rounds after a warm-up)")
    worst = 0.0
    for name, xs in [*switches.items(), *views.items()]:
        worst = max(worst, max(xs))
        print(f"{name:<36} {statistics.median(xs):8.3f} {max(xs):8.3f}")
    print(f"\nworst of all: {worst:.3f} s (goal < 1 s)")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()
