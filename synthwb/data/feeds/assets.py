"""Which feed the Synth validator reads each asset's realised prices from, and under which symbol.

Facts from synthdataco/synth-subnet ``synth/validator/price_data_provider.py`` (since July 2026):
BTC, ETH, SOL and XRP are Binance spot ``*USDT`` 1-minute klines; HYPE is Hyperliquid spot
HYPE/USDC, addressed as ``@107`` in ``candleSnapshot``; the commodities and equities are the
Hyperliquid ``xyz:`` perpetuals (``xyz:GOLD`` for XAU, ``xyz:CL`` for WTIOIL, ...). SPYX (the
2026-05 rule set only) came from Pyth, which synthwb does not fetch.

Every feed trades around the clock, so each series is stored as a 24/7 series (asset class
``crypto``: a bar every minute, UTC), the way the validator reads it.
"""
from __future__ import annotations

from dataclasses import dataclass

from synthwb.core.errors import SpecError

SOURCES = ("binance", "hyperliquid")
#: lake timeframe -> the feeds' interval name (Binance and Hyperliquid spell them alike)
INTERVALS = {"1min": "1m", "5min": "5m", "15min": "15m", "1h": "1h", "4h": "4h", "1d": "1d"}


@dataclass(frozen=True)
class Feed:
    """One validator asset on its feed."""

    asset: str          # the validator's name, also the lake symbol
    source: str         # binance | hyperliquid | pyth (not fetchable)
    symbol: str         # the feed's symbol: BTCUSDT, @107, xyz:GOLD
    asset_class: str = "crypto"
    note: str = ""

    @property
    def fetchable(self) -> bool:
        return self.source in SOURCES

    def to_dict(self) -> dict:
        return {"asset": self.asset, "source": self.source, "symbol": self.symbol,
                "asset_class": self.asset_class, "note": self.note}


def _feeds(*items: Feed) -> dict[str, Feed]:
    return {f.asset: f for f in items}


#: validator asset -> feed (the validator rule sets' asset lists are checked against it in tests)
FEEDS: dict[str, Feed] = _feeds(
    Feed("BTC", "binance", "BTCUSDT"),
    Feed("ETH", "binance", "ETHUSDT"),
    Feed("SOL", "binance", "SOLUSDT"),
    Feed("XRP", "binance", "XRPUSDT"),
    Feed("HYPE", "hyperliquid", "@107", note="Hyperliquid spot HYPE/USDC"),
    Feed("XAU", "hyperliquid", "xyz:GOLD"),
    Feed("SP500", "hyperliquid", "xyz:SP500"),
    Feed("NVDAX", "hyperliquid", "xyz:NVDA"),
    Feed("TSLAX", "hyperliquid", "xyz:TSLA"),
    Feed("AAPLX", "hyperliquid", "xyz:AAPL"),
    Feed("GOOGLX", "hyperliquid", "xyz:GOOGL"),
    Feed("SPCX", "hyperliquid", "xyz:SPCX"),
    Feed("WTIOIL", "hyperliquid", "xyz:CL"),
    Feed("SPYX", "pyth", "Crypto.SPYX/USD", note="Pyth (2026-05 only); not fetched by synthwb"),
)


def check_source(source: str) -> str:
    s = str(source or "").strip().lower()
    if s not in SOURCES:
        raise SpecError(f"unknown source {source!r}; use one of {', '.join(SOURCES)}")
    return s


def feed_for(asset: str, source: str | None = None) -> Feed:
    """The feed of a validator asset (``source`` given: checked to be that asset's feed). An asset
    the table does not know is taken as a Binance ``<ASSET>USDT`` pair or a Hyperliquid coin of
    that name when ``source`` says so."""
    name = str(asset or "").strip().upper()
    if not name:
        raise SpecError("empty asset name; give one such as BTC or HYPE")
    src = check_source(source) if source else None
    f = FEEDS.get(name)
    if f is None:
        if src is None:
            raise SpecError(f"no feed is known for asset {name!r} (known: {', '.join(sorted(FEEDS))}); "
                            "name its source with --source binance|hyperliquid")
        return Feed(name, src, f"{name}USDT" if src == "binance" else name, note="not a validator asset")
    if not f.fetchable:
        raise SpecError(f"{name} comes from {f.source} ({f.note}); synthwb fetches only "
                        f"{' and '.join(SOURCES)}")
    if src is not None and src != f.source:
        raise SpecError(f"the validator reads {name} from {f.source} ({f.symbol}), not {src}; "
                        f"use --source {f.source} or leave --source out")
    return f


def assets_of(source: str) -> list[str]:
    src = check_source(source)
    return [a for a, f in FEEDS.items() if f.source == src]
