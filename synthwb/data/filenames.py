"""Guessing a file's asset class, symbol and timeframe from its name, as exchanges and vendors
write them; the import shows it as a guess, and anything the user types wins.

    BTCUSDT-1m-2024-01.zip          Binance archive        crypto BTC 1min
    Coinbase_BTCUSD_1h.csv          CryptoDataDownload     crypto BTC 1h
    gemini_BTCUSD_1hr.csv           CryptoDataDownload     crypto BTC 1h
    BTC-USD_15m.csv, BTC-USD.csv    Yahoo / yfinance       crypto BTC (15min)
    EURUSD15.csv, DAT_ASCII_EURUSD_M1.csv   MetaTrader / HistData   fx EURUSD (15min / 1min)
"""
from __future__ import annotations

import re
from pathlib import Path

CRYPTO = {"BTC", "XBT", "ETH", "SOL", "XRP", "HYPE", "DOGE", "ADA", "BNB", "LTC", "DOT", "AVAX", "LINK", "TRX",
          "BCH", "XLM", "ATOM", "UNI", "ETC", "XMR", "SHIB", "TON", "SUI", "APT", "ARB", "OP", "NEAR", "PEPE"}
QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USD", "EUR", "GBP", "BTC", "ETH")
FIAT = {"EUR", "USD", "GBP", "JPY", "CHF", "AUD", "NZD", "CAD", "SEK", "NOK", "SGD", "HKD", "ZAR", "MXN", "CNH", "TRY"}
TIMEFRAMES = {"1m": "1min", "1min": "1min", "m1": "1min", "5m": "5min", "5min": "5min", "m5": "5min",
              "15m": "15min", "15min": "15min", "m15": "15min", "1h": "1h", "1hr": "1h", "60m": "1h", "h1": "1h",
              "4h": "4h", "h4": "4h", "1d": "1d", "d": "1d", "d1": "1d", "daily": "1d", "day": "1d",
              "minute": "1min", "hour": "1h", "hourly": "1h"}
_MT_SUFFIX = {"1": "1min", "5": "5min", "15": "15min", "60": "1h", "240": "4h", "1440": "1d"}


def _pair(token: str) -> tuple[str, str] | None:
    """('crypto'|'fx', symbol) of a pair such as BTCUSDT, BTC-USD, EURUSD."""
    t = token.upper().replace("/", "-")
    if "-" in t:
        base, _, quote = t.partition("-")
        if base in CRYPTO or (quote in ("USDT", "USDC") and base.isalpha()):
            return "crypto", "BTC" if base == "XBT" else base
        if base in FIAT and quote in FIAT:
            return "fx", base + quote
        return None
    for q in QUOTES:
        if t.endswith(q) and len(t) > len(q):
            base = t[: -len(q)]
            if base in CRYPTO or (q in ("USDT", "USDC", "FDUSD") and base.isalpha() and 2 <= len(base) <= 10):
                return "crypto", "BTC" if base == "XBT" else base
    if len(t) == 6 and t[:3] in FIAT and t[3:] in FIAT:
        return "fx", t
    if t in CRYPTO:
        return "crypto", "BTC" if t == "XBT" else t
    return None


def guess_series(name: str) -> dict | None:
    """``{"asset_class", "symbol", "freq" (or None), "why"}`` from a file name, or None."""
    stem = Path(str(name)).name
    for ext in (".gz", ".zip", ".csv", ".parquet", ".pq", ".txt", ".tsv"):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
    stem = re.sub(r"\s*\(\d+\)$", "", stem)  # a browser's "name (1)"
    tokens = [t for t in re.split(r"[_\s.]+|(?<=[A-Za-z])-(?=\d)|(?<=\d)-(?=[A-Za-z])", stem) if t]
    found, freq = None, None
    for tok in tokens:
        low = tok.lower()
        if freq is None and low in TIMEFRAMES:
            freq = TIMEFRAMES[low]
            continue
        if freq is None and re.fullmatch(r"\d+-?min", low):
            freq = TIMEFRAMES.get(low.replace("-", ""))
            continue
        if found is None:
            m = re.fullmatch(r"([A-Za-z]{6})(1|5|15|60|240|1440)", tok)  # MetaTrader: EURUSD15
            if m and _pair(m.group(1)):
                found, freq = _pair(m.group(1)), freq or _MT_SUFFIX[m.group(2)]
                continue
            found = _pair(tok)
    if found is None:
        return None
    ac, sym = found
    return {"asset_class": ac, "symbol": sym, "freq": freq,
            "why": f"guessed from the file name {Path(str(name)).name}"}
