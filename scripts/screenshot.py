"""Screenshot app pages with headless Debian Chromium (never a downloaded browser).

    .venv/bin/python scripts/screenshot.py --page data_explorer --out artifacts/shots \
        [--lake DIR] [--store DIR] [--wait 8] [--width 1600 --height 1400] [--click "Button text"]

Starts `streamlit run app.py` on a free loopback port with SYNTHWB_DATA_DIR/SYNTHWB_STORE_DIR
set, waits for /_stcore/health, opens the page (url path = page file stem), waits, optionally
clicks buttons by their text, and writes <out>/<page>.png. Also used by the e2e tests.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("SYNTHWB_CHROMIUM", "/usr/bin/chromium")
CHROME_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(env_extra: dict[str, str], timeout: float = 90.0):
    """Run the app on a free port; yield its base URL; stop it afterwards."""
    port = free_port()
    env = {**os.environ, **env_extra, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    # the server's output goes to a file: a pipe nobody reads fills up (64 KiB) and then blocks
    # the server on its next print, e.g. in a background job
    keep = os.environ.get("SYNTHWB_SERVER_LOG")  # a file to keep the server's output in (debugging)
    log = open(keep, "wb") if keep else tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"streamlit exited: {log.read().decode(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(base + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError("streamlit did not become healthy in time")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def launch_browser(p):
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)


def open_app(browser, url: str, height: int = 1100, timeout_ms: int = 120_000, **page_args):
    """A new page of ``browser`` 1500 px wide at ``url``, drawn (:func:`wait_idle`), and the list
    its uncaught JavaScript errors are collected in: ``(page, errors)``."""
    page = browser.new_page(viewport={"width": 1500, "height": height}, **page_args)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    wait_idle(page, timeout_ms=timeout_ms)
    return page, errors


def wait_idle(page, timeout_ms: int = 60000) -> None:
    """Wait until the app script has drawn its page and stopped running.

    The first paint of a cold session can show streamlit's legacy page list before app.py
    has run, so wait for the shared sidebar's brand and a page heading, then for the
    running indicator to go away.
    """
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_selector('[data-testid="stSidebar"] :text("synthwb")', timeout=timeout_ms)
    page.wait_for_selector('[data-testid="stMain"] h1', timeout=timeout_ms)
    deadline = time.time() + timeout_ms / 1000
    quiet = 0
    while time.time() < deadline and quiet < 3:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        quiet = 0 if running else quiet + 1
        page.wait_for_timeout(400)
    page.wait_for_timeout(800)


class ScriptRuns:
    """Counts the app's finished script runs as the browser receives them (the websocket's
    ``script_finished`` messages), so a test or a bench can wait for the exact end of the run
    an action started instead of polling the page:

        runs = ScriptRuns(page)          # before page.goto
        n = runs.count
        page.click(...)
        seconds = runs.wait_after(n)     # seconds from now-ish to the end of the next run
    """

    def __init__(self, page):
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self._msg = ForwardMsg
        self.count = 0
        self.started = 0
        self.times: list[float] = []
        page.on("websocket", self._attach)
        self.page = page

    def _attach(self, ws) -> None:
        ws.on("framereceived", self._frame)

    def _frame(self, payload) -> None:
        if isinstance(payload, str):
            return
        try:
            msg = self._msg.FromString(payload)
        except Exception:  # noqa: BLE001 - not a ForwardMsg: not ours to read
            return
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.started += 1
        elif kind == "script_finished":
            self.count += 1
            self.times.append(time.perf_counter())

    def wait_after(self, n: int, t0: float, timeout_s: float = 120.0, settle_s: float = 0.3) -> float:
        """Wait until a run after the ``n``-th has finished and no new run starts within
        ``settle_s`` (a rerun the page itself triggers counts as part of the same action);
        returns seconds from ``t0`` to the last finished run."""
        deadline = time.perf_counter() + timeout_s
        while self.count <= n:
            if time.perf_counter() > deadline:
                raise TimeoutError("the app did not finish a script run in time")
            self.page.wait_for_timeout(20)
        while True:
            seen = self.count
            self.page.wait_for_timeout(int(settle_s * 1000))
            if self.count == seen:
                return self.times[-1] - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--page", action="append", required=True, help="page file stem, e.g. data_explorer (repeatable)")
    ap.add_argument("--out", default="artifacts/shots")
    ap.add_argument("--lake")
    ap.add_argument("--store")
    ap.add_argument("--wait", type=float, default=4.0, help="extra seconds after the app is idle")
    ap.add_argument("--width", type=int, default=1600)
    ap.add_argument("--height", type=int, default=1400)
    ap.add_argument("--click", action="append", default=[], help="button text to click before the shot")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    env = {}
    if a.lake:
        env["SYNTHWB_DATA_DIR"] = str(Path(a.lake).resolve())
    if a.store:
        env["SYNTHWB_STORE_DIR"] = str(Path(a.store).resolve())
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with streamlit_server(env) as base, sync_playwright() as p:
        browser = launch_browser(p)
        page = browser.new_page(viewport={"width": a.width, "height": a.height})
        for name in a.page:
            page.goto(f"{base}/{'' if name == 'data_explorer' else name}")
            wait_idle(page)
            for text in a.click:
                page.get_by_role("button", name=text).first.click()
                wait_idle(page)
            page.wait_for_timeout(int(a.wait * 1000))
            path = out / f"{name}.png"
            page.screenshot(path=str(path), full_page=True)
            print(path)
        browser.close()


if __name__ == "__main__":
    main()
