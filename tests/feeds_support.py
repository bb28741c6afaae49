"""A loopback stand-in for the validator's feeds, serving small frames made at test time in each
API's documented format: Binance's bulk archives (monthly and daily zips of headerless kline CSVs,
open times in ms, in us from 2025, each with its ``.CHECKSUM``), Binance REST klines (JSON arrays,
``limit`` per page) and Hyperliquid's ``candleSnapshot`` (JSON objects with string prices, 5000 a
call, only the last ``hl_window`` candles). Faults are injected per request: 429 / 418 with
Retry-After, 500 with a body, a dropped connection, a wrong checksum, or a request held until
released. Nothing here touches the real network: the server listens on 127.0.0.1, port 0."""
from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np
import polars as pl

TS = pl.Datetime("us", "UTC")


def make_bars(start: datetime, end: datetime, step_s: int = 60, seed: int = 0, base: float = 40000.0) -> pl.DataFrame:
    """Consistent 1-minute bars in [start, end): prices to the cent, volumes to 1e-4."""
    ts = pl.datetime_range(start, end - timedelta(seconds=step_s), timedelta(seconds=step_s), time_unit="us",
                           time_zone="UTC", eager=True)
    n = ts.len()
    rng = np.random.default_rng(seed)
    close = np.round(base * np.exp(np.cumsum(rng.normal(0, 4e-4, n))), 2)
    open_ = np.round(np.concatenate([[base], close[:-1]]), 2)
    high = np.round(np.maximum(open_, close) + np.abs(rng.normal(0, 3, n)).round(2) + 0.01, 2)
    low = np.round(np.minimum(open_, close) - np.abs(rng.normal(0, 3, n)).round(2) - 0.01, 2)
    vol = np.round(rng.gamma(2.0, 5.0, n), 4)
    return pl.DataFrame({"ts": ts, "open": open_, "high": high, "low": low, "close": close, "volume": vol})


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def kline_csv(df: pl.DataFrame, micro: bool) -> bytes:
    unit = 1_000_000 if micro else 1_000
    step = (df["ts"][1] - df["ts"][0]).total_seconds() if df.height > 1 else 60
    ot = df["ts"].dt.epoch("us") // (1_000_000 // unit)
    out = pl.DataFrame({
        "ot": ot, "o": df["open"], "h": df["high"], "l": df["low"], "c": df["close"], "v": df["volume"],
        "ct": ot + int(step * unit) - 1, "qv": (df["close"] * df["volume"]).round(4), "n": pl.Series([7] * df.height),
        "tb": (df["volume"] / 2).round(4), "tq": (df["close"] * df["volume"] / 2).round(4), "ig": pl.Series([0] * df.height),
    })
    return out.write_csv(include_header=False, float_precision=8).encode()


def zip_of(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return buf.getvalue()


class FeedServer:
    """``binance[symbol]`` / ``hl[coin]``: the frames served; ``monthly`` / ``daily``: which archives
    exist ({(symbol, 'YYYY-MM')}, {(symbol, 'YYYY-MM-DD')}); ``rest_until``: REST serves bars
    before it; ``faults``: [{"match", "action", "times", "retry_after", "status"}]."""

    def __init__(self):
        self.binance: dict[str, pl.DataFrame] = {}
        self.hl: dict[str, pl.DataFrame] = {}
        self.monthly: set[tuple[str, str]] = set()
        self.daily: set[tuple[str, str]] = set()
        self.rest_until: datetime | None = None
        self.hl_window = 5000
        self.rest_max = 1000
        self.faults: list[dict] = []
        self.log: list[str] = []
        self.release = threading.Event()
        self.held = threading.Event()
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                srv._handle(self, "GET", None)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                srv._handle(self, "POST", self.rfile.read(n))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def env(self) -> dict[str, str]:
        return {"SYNTHWB_BINANCE_DATA_URL": self.url, "SYNTHWB_BINANCE_API_URL": self.url,
                "SYNTHWB_HYPERLIQUID_URL": self.url}

    # -- answering ----------------------------------------------------------------------
    def _send(self, h, status: int, body: bytes, ctype: str = "application/json", headers: dict | None = None):
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    def _fault(self, path: str) -> dict | None:
        with self._lock:
            for f in self.faults:
                if f["match"] in path and f.get("times", 1) != 0:
                    if f.get("times") is not None:
                        f["times"] = f.get("times", 1) - 1
                    return f
        return None

    def _handle(self, h, method: str, body: bytes | None):
        path = h.path
        with self._lock:
            self.log.append(f"{method} {path}" + (f" {body.decode()}" if body else ""))
        f = self._fault(path + (body.decode() if body else ""))
        action = f["action"] if f else None
        if action == "block":
            self.held.set()
            self.release.wait(30)
        elif action in ("429", "418"):
            return self._send(h, int(action), b'{"code":-1003,"msg":"Too many requests; current limit is 6000 '
                              b'request weight per 1 MINUTE."}', headers={"Retry-After": str(f.get("retry_after", "0"))})
        elif action == "500":
            return self._send(h, 500, b'{"code":-1000,"msg":"An unknown error occurred while processing the request."}')
        elif action == "drop":
            h.close_connection = True
            h.connection.shutdown(2)
            return
        u = urlsplit(path)
        try:
            if method == "POST" and u.path == "/info":
                return self._info(h, json.loads(body or b"{}"))
            if u.path == "/api/v3/klines":
                return self._klines(h, {k: v[0] for k, v in parse_qs(u.query).items()})
            if u.path.startswith("/data/spot/"):
                return self._archive(h, u.path, bad=action == "badsum")
        except (KeyError, ValueError) as exc:
            return self._send(h, 400, json.dumps({"code": -1100, "msg": str(exc)}).encode())
        return self._send(h, 404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")

    def _archive(self, h, path: str, bad: bool):
        checksum = path.endswith(".CHECKSUM")
        zpath = path[: -len(".CHECKSUM")] if checksum else path
        name = zpath.rsplit("/", 1)[-1]
        parts = name[:-4].split("-")  # BTCUSDT-1m-2024-01(-01)
        sym, period = parts[0], "-".join(parts[2:])
        daily = len(parts) == 5
        if (sym, period) not in (self.daily if daily else self.monthly) or sym not in self.binance:
            return self._send(h, 404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        if zpath not in self._cache:
            y, m = int(parts[2]), int(parts[3])
            lo = datetime(y, m, int(parts[4]) if daily else 1, tzinfo=UTC)
            hi = lo + timedelta(days=1) if daily else (lo + timedelta(days=32)).replace(day=1)
            df = self.binance[sym].filter((pl.col("ts") >= lo) & (pl.col("ts") < hi))
            self._cache[zpath] = zip_of(name[:-4] + ".csv", kline_csv(df, micro=y >= 2025))
        data = self._cache[zpath]
        if checksum:
            digest = hashlib.sha256(data + (b"x" if bad else b"")).hexdigest()
            return self._send(h, 200, f"{digest}  {name}\n".encode(), "text/plain")
        return self._send(h, 200, data, "application/zip")

    def _klines(self, h, q: dict):
        sym = q["symbol"]
        if sym not in self.binance:
            return self._send(h, 400, b'{"code":-1121,"msg":"Invalid symbol."}')
        lo = datetime.fromtimestamp(int(q["startTime"]) / 1000, UTC)
        hi = datetime.fromtimestamp(int(q["endTime"]) / 1000, UTC)
        limit = min(int(q.get("limit", 500)), self.rest_max)
        df = self.binance[sym].filter((pl.col("ts") >= lo) & (pl.col("ts") <= hi))
        if self.rest_until is not None:
            df = df.filter(pl.col("ts") < self.rest_until)
        df = df.head(limit)
        rows = [[_ms(r["ts"]), f"{r['open']:.8f}", f"{r['high']:.8f}", f"{r['low']:.8f}", f"{r['close']:.8f}",
                 f"{r['volume']:.8f}", _ms(r["ts"]) + 59999, "0", 7, "0", "0", "0"] for r in df.iter_rows(named=True)]
        return self._send(h, 200, json.dumps(rows).encode())

    def _info(self, h, body: dict):
        if body.get("type") != "candleSnapshot":
            return self._send(h, 422, b"Failed to deserialize the JSON body")
        req = body["req"]
        coin = req["coin"]
        if coin not in self.hl:
            return self._send(h, 200, b"[]")
        lo = datetime.fromtimestamp(int(req["startTime"]) / 1000, UTC)
        hi = datetime.fromtimestamp(int(req["endTime"]) / 1000, UTC)
        df = self.hl[coin]
        if self.rest_until is not None:
            df = df.filter(pl.col("ts") < self.rest_until)
        df = df.tail(self.hl_window).filter((pl.col("ts") >= lo) & (pl.col("ts") <= hi)).head(5000)
        rows = [{"t": _ms(r["ts"]), "T": _ms(r["ts"]) + 59999, "s": coin, "i": req["interval"],
                 "o": repr(r["open"]), "c": repr(r["close"]), "h": repr(r["high"]), "l": repr(r["low"]),
                 "v": repr(r["volume"]), "n": 3} for r in df.iter_rows(named=True)]
        return self._send(h, 200, json.dumps(rows).encode())


def months(start: date, end: date) -> list[str]:
    out, d = [], start.replace(day=1)
    while d < end:
        out.append(f"{d:%Y-%m}")
        d = (d + timedelta(days=32)).replace(day=1)
    return out
