"""``synthwb serve``: a local forecast service a miner's neuron calls for each validator request.

    POST /forecast   {"asset": "BTC", "start_time": "2026-09-30T12:01:00+00:00",
                      "time_increment": 60, "time_length": 3600, "num_simulations": 1000}
    -> 200 {"simulation_output": [start_ts, increment, path_1, ..., path_n], "validator": ...,
            "verdict": "CORRECT", "facts": {...}}
    GET  /health     -> 200 {"status": "ok", "run": ..., "validator": ..., "tasks": ...}

The request fields are the validator's (its ``simulation_input``); ``start_time`` is ISO 8601
or a Unix timestamp. The task is the validator version's task whose step and length they name
(24h: 300 s over 86400 s, 1h: 60 s over 3600 s), limited to one competition's task and assets
with ``competition``. The answer is forecast from the run and the newest bars of the lake that
had closed when the validator sent the request (at the latest ``start_time - extra - 60 s``, the
version's timing): the run simulates across the lead from its last close to the start time and
over the horizon; the paths are rounded as the version accepts and checked with its rules
(:func:`synthwb.evaluate.validator.batch_reasons`, the outcome
:func:`~synthwb.evaluate.validator.validate_response` gives for that export).

Errors are one JSON object ``{"error": "..."}``: 400 for a malformed request (not JSON, a field
missing or of the wrong type, no task with that step and length, too many simulations), 401
without the token, 404 for an unknown path or an asset the lake does not hold, 413 for a body
over 64 KiB, 500 if the run fails. A server bound to anything but a loopback address needs a
token (``Authorization: Bearer <token>``). It is a stdlib ``ThreadingHTTPServer``; at most
``max_concurrent`` forecasts run at once, the other requests wait their turn.
"""
from __future__ import annotations

import hmac
import ipaddress
import json
import math
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import polars as pl

from synthwb.core.errors import NotFound, SpecError, SynthwbError
from synthwb.core.time import to_ns
from synthwb.data.lake import inventory, read_bars
from synthwb.data.schema import FREQ_SECONDS, Selection
from synthwb.evaluate.cadence import asset_of
from synthwb.evaluate.timing import LABEL_OFFSET_S, forecast_across_lead, start_extra_seconds
from synthwb.evaluate.validator import CORRECT, batch_reasons, to_response
from synthwb.forecast.ensemble import BASELINE_PREFIX
from synthwb.forecast.kinds import load_forecaster, member_forecaster
from synthwb.scoring.versions import get_validator
from synthwb.store.runs import read_info

__all__ = ["ForecastService", "RequestError", "is_loopback", "make_server"]

NS = 1_000_000_000
MAX_BODY = 64 * 1024
FIELDS = ("asset", "start_time", "time_increment", "time_length", "num_simulations")


class RequestError(Exception):
    """A request the service refuses: an HTTP status and one clear message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ForecastService:
    """A run (or ``baseline:NAME``) answering the validator's requests from the lake."""

    def __init__(self, run: str, competition: str | None = None, validator: str | None = None, root=None,
                 store=None, device: str = "cpu", seed: int = 0, max_paths: int = 20_000,
                 max_concurrent: int | None = None, asset_class: str | None = None, freq: str | None = None):
        self.rules = get_validator(validator)
        self.comp = self.rules.competition(competition) if competition else None
        self.root, self.store, self.seed, self.max_paths = root, store, int(seed), int(max_paths)
        self.run = run
        if run.startswith(BASELINE_PREFIX):
            self.forecaster = member_forecaster(run)
            sel = {"asset_class": asset_class or "crypto", "freq": freq or "1min", "symbol": None}
        else:
            info = read_info(run, store)
            sel = info.get("selection") or (info.get("data") or {}).get("selection")
            if not sel:
                raise SpecError(f"run {run!r} records no data selection")
            self.forecaster = load_forecaster(run, store=store, device=device, root=root)
            sel = {**sel, **({"asset_class": asset_class} if asset_class else {}), **({"freq": freq} if freq else {})}
        self.asset_class, self.freq, self.own_symbol = sel["asset_class"], sel["freq"], sel.get("symbol")
        self.bar_s = FREQ_SECONDS[self.freq]
        self.tasks = {n: t for n, t in self.rules.tasks.items() if self.comp is None or n == self.comp.task}
        self.gate = threading.BoundedSemaphore(max_concurrent or max(1, os.cpu_count() or 1))
        self._symbols: dict[str, str] = {}
        self._lock = threading.Lock()

    def describe(self) -> dict[str, Any]:
        return {"status": "ok", "run": self.run, "validator": self.rules.name,
                "competition": self.comp.key if self.comp else None,
                "assets": list(self.comp.assets) if self.comp else None,
                "tasks": {n: {"time_increment": t.step_seconds, "time_length": t.horizon_seconds}
                          for n, t in self.tasks.items()},
                "asset_class": self.asset_class, "freq": self.freq}

    # -- the request ----------------------------------------------------------------------
    def _parse(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise RequestError(400, "the request must be a JSON object with " + ", ".join(FIELDS))
        missing = [f for f in FIELDS if f not in body]
        if missing:
            raise RequestError(400, f"missing field(s): {', '.join(missing)} (a request has {', '.join(FIELDS)})")
        asset = body["asset"]
        if not isinstance(asset, str) or not asset.strip() or len(asset) > 40:
            raise RequestError(400, f"asset must be a name such as \"BTC\", got {asset!r}")
        for f in ("time_increment", "time_length", "num_simulations"):
            v = body[f]
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise RequestError(400, f"{f} must be a positive whole number, got {v!r}")
        n = body["num_simulations"]
        if n > self.max_paths:
            raise RequestError(400, f"num_simulations {n} is over this service's limit {self.max_paths}")
        st = body["start_time"]
        try:
            if isinstance(st, bool):
                raise ValueError
            if isinstance(st, (int, float)):
                if not math.isfinite(st):
                    raise ValueError
                start = datetime.fromtimestamp(int(st), UTC)
            elif isinstance(st, str):
                start = datetime.fromisoformat(st.strip().replace("Z", "+00:00"))
                start = (start if start.tzinfo else start.replace(tzinfo=UTC)).astimezone(UTC)
            else:
                raise ValueError
        except (ValueError, OverflowError, OSError):
            raise RequestError(400, f"start_time must be ISO 8601 (e.g. 2026-09-30T12:01:00+00:00) or a Unix "
                                    f"timestamp, got {st!r}") from None
        if start.second or start.microsecond:
            raise RequestError(400, f"start_time {start.isoformat()} is not on a whole minute (the validator's are)")
        inc, length = body["time_increment"], body["time_length"]
        task = next((t for t in self.tasks.values() if t.step_seconds == inc and t.horizon_seconds == length), None)
        if task is None:
            have = "; ".join(f"{n}: time_increment {t.step_seconds}, time_length {t.horizon_seconds}"
                             for n, t in self.tasks.items())
            scope = f"competition {self.comp.key}" if self.comp else f"validator {self.rules.name}"
            raise RequestError(400, f"no task of {scope} has time_increment {inc} and time_length {length} "
                                    f"(it has {have})")
        asset = asset.strip().upper()
        if self.comp is not None and asset not in self.comp.assets:
            raise RequestError(400, f"{asset} does not count for {self.comp.label}; it counts "
                                    f"{' '.join(self.comp.assets)}")
        return {"asset": asset, "start": start, "task": task, "n": n}

    def _symbol(self, asset: str) -> str:
        with self._lock:
            if asset in self._symbols:
                return self._symbols[asset]
        if self.own_symbol and asset_of(self.own_symbol) == asset:
            sym = self.own_symbol
        else:
            inv = inventory(self.root)
            syms = sorted({s for ac, s in zip(inv["asset_class"].to_list(), inv["symbol"].to_list())
                           if ac == self.asset_class and asset_of(s) == asset}) if not inv.is_empty() else []
            if not syms:
                raise RequestError(404, f"the lake holds no {self.asset_class} series of {asset}")
            sym = asset if asset in syms else syms[0]
        with self._lock:
            self._symbols[asset] = sym
        return sym

    def answer(self, body: Any) -> dict[str, Any]:
        """The response to one request (raises :class:`RequestError`)."""
        t_start = time.perf_counter()
        req = self._parse(body)
        task, start, n = req["task"], req["start"], req["n"]
        sym = self._symbol(req["asset"])
        start_ns = int(start.timestamp()) * NS
        cut_ns = start_ns - (start_extra_seconds(task, self.rules) + 60) * NS  # closed when the request was sent
        f = self.forecaster
        days = max(14.0, float(f.context_days), float(f.context_bars) * self.bar_s * 1.5 / 86400)
        lo = datetime.fromtimestamp(cut_ns // NS, UTC) - timedelta(days=days)
        try:
            bars = read_bars(Selection(self.asset_class, sym, self.freq, lo,
                                       datetime.fromtimestamp(cut_ns // NS, UTC)), root=self.root)
        except NotFound as exc:
            raise RequestError(404, str(exc)) from None
        if not bars.is_empty():
            closes = to_ns(bars["ts"]) + self.bar_s * NS
            bars = bars.filter(pl.Series(closes <= cut_ns))
        if bars.height < 20:
            raise RequestError(404, f"the lake has too few {self.freq} bars of {sym} before {start.isoformat()} "
                                    f"({bars.height}; run `synthwb data update`)")
        last_ns = int(to_ns(bars["ts"][-1:])[0])
        c = last_ns + self.bar_s * NS
        lead = (start_ns + LABEL_OFFSET_S * NS - c) // NS
        g = int(f.step_seconds) or math.gcd(int(lead), task.step_seconds)
        lead_used = max(1, round(lead / g)) * g
        with self.gate:
            t_f = time.perf_counter()
            try:
                paths, across = forecast_across_lead(f, bars, [bars["ts"][-1]], task, lead_used, n, self.seed,
                                                     self.run)
            except SynthwbError as exc:
                raise RequestError(500, f"the run could not forecast: {exc}") from None
            forecast_s = time.perf_counter() - t_f
        verdict = batch_reasons(paths, task, self.rules)[0] if n == task.n_paths else ""
        verdict = verdict or CORRECT
        if verdict != CORRECT:
            raise RequestError(500, f"the validator would refuse this forecast: {verdict}")
        response = to_response(paths[0], start_ns // NS, task, self.rules)
        return {"simulation_output": response, "validator": self.rules.name, "verdict": verdict,
                "facts": {"run": self.run, "task": task.name, "asset": req["asset"], "symbol": sym,
                          "start_time": start.isoformat(), "last_bar_open": bars["ts"][-1].isoformat(),
                          "lead_s": int(lead), "lead_simulated_s": int(lead_used) if across else 0,
                          "lake_lag_s": int((cut_ns - c) // NS), "num_simulations": n,
                          "forecast_s": round(forecast_s, 4), "seconds": round(time.perf_counter() - t_start, 4)}}


def _handler(service: ForecastService, token: str | None):
    class Handler(BaseHTTPRequestHandler):
        server_version = "synthwb-serve"
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quiet: one line per request is noise for a miner
            return

        def _send(self, status: int, obj: Any) -> None:
            data = json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if not token:
                return True
            got = self.headers.get("Authorization", "")
            got = got[7:].strip() if got.lower().startswith("bearer ") else self.headers.get("X-Synthwb-Token", "")
            return hmac.compare_digest(got.encode(), token.encode())

        def do_GET(self):
            if not self._authorised():
                return self._send(401, {"error": "missing or wrong token (send Authorization: Bearer <token>)"})
            if self.path.rstrip("/") in ("/health", ""):
                return self._send(200, service.describe())
            return self._send(404, {"error": f"no such path {self.path!r}; POST /forecast, GET /health"})

        def do_POST(self):
            length = self.headers.get("Content-Length")
            try:
                n = int(length) if length is not None else -1
            except ValueError:
                n = -1
            if n < 0:
                self.close_connection = True
                return self._send(411, {"error": "a Content-Length header is required"})
            if n > MAX_BODY:
                self.close_connection = True
                return self._send(413, {"error": f"the request body is over {MAX_BODY} bytes"})
            raw = self.rfile.read(n)
            if not self._authorised():
                return self._send(401, {"error": "missing or wrong token (send Authorization: Bearer <token>)"})
            if self.path.rstrip("/") not in ("/forecast", ""):
                return self._send(404, {"error": f"no such path {self.path!r}; POST /forecast, GET /health"})
            try:
                body = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                return self._send(400, {"error": f"the body is not JSON ({exc})"})
            try:
                out = service.answer(body)
            except RequestError as exc:
                return self._send(exc.status, {"error": exc.message})
            except Exception as exc:  # noqa: BLE001 - one bad request must not take the server down
                return self._send(500, {"error": f"{type(exc).__name__}: {exc}"})
            return self._send(200, out)

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def make_server(service: ForecastService, host: str = "127.0.0.1", port: int = 8765,
                token: str | None = None) -> ThreadingHTTPServer:
    """An HTTP server for ``service`` (not yet serving: call ``serve_forever``). Binding to an
    address that is not loopback without a token is refused."""
    if not is_loopback(host) and not token:
        raise SpecError(f"serving on {host} would let anyone on the network ask for forecasts: give a token "
                        "(--token or $SYNTHWB_SERVE_TOKEN), or bind to 127.0.0.1")
    if token is not None and len(token) < 8:
        raise SpecError("the token must be at least 8 characters")
    if not 0 <= int(port) <= 65535:
        raise SpecError(f"port must be 0..65535, got {port}")
    try:
        return _Server((host, int(port)), _handler(service, token))
    except OSError as exc:
        raise SpecError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
