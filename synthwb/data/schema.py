"""The lake's fixed vocabulary (../shared/DESIGN.md §2) and the data selection every page shares."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime

from synthwb.core.errors import SpecError
from synthwb.core.io import check_name
from synthwb.core.time import to_utc

ASSET_CLASSES = ("crypto", "fx", "equity", "etf", "index")
FREQS = ("1min", "5min", "15min", "1h", "4h", "1d")
FREQ_SECONDS = {"1min": 60, "5min": 300, "15min": 900, "1h": 3600, "4h": 14400, "1d": 86400}
OHLCV = ("open", "high", "low", "close", "volume")
COLUMNS = ("ts", *OHLCV)
SESSION_TZ = "America/New_York"


def is_24_7(asset_class: str) -> bool:
    """Crypto trades around the clock; fx/equity/etf/index follow New York sessions."""
    return asset_class == "crypto"


def market_tz(asset_class: str) -> str:
    """The zone calendar features and session gaps use for this asset class."""
    return "UTC" if is_24_7(asset_class) else SESSION_TZ


def check_asset_class(asset_class: str) -> str:
    if asset_class not in ASSET_CLASSES:
        raise SpecError(f"unknown asset class {asset_class!r}; use one of {', '.join(ASSET_CLASSES)}")
    return asset_class


_SYMBOL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,39}")
_SYMBOL_RULE = "use 1-40 characters of letters, digits, '.', '_' or '-' (e.g. BTC, ETH-USD, SPY)"


def check_symbol(symbol: str) -> str:
    """A symbol becomes a folder name: letters, digits, '.', '_', '-' (max 40), no control
    character (core.io.check_name). The one check for both sides: the import that writes a
    symbol and every read that names one."""
    return check_name(symbol, "symbol", _SYMBOL_RE, _SYMBOL_RULE, 40)


def check_freq(freq: str) -> str:
    if freq not in FREQS:
        raise SpecError(f"unknown frequency {freq!r}; use one of {', '.join(FREQS)}")
    return freq


@dataclass(frozen=True)
class Selection:
    """Which bars: asset class, symbol, timeframe and an optional [start, end) range in UTC."""

    asset_class: str
    symbol: str
    freq: str
    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        check_asset_class(self.asset_class)
        check_freq(self.freq)
        check_symbol(self.symbol)
        object.__setattr__(self, "start", to_utc(self.start, "start"))
        object.__setattr__(self, "end", to_utc(self.end, "end"))
        if self.start and self.end and self.start >= self.end:
            raise SpecError(f"start {self.start:%Y-%m-%d %H:%M} is not before end {self.end:%Y-%m-%d %H:%M}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["start"] = self.start.isoformat() if self.start else None
        d["end"] = self.end.isoformat() if self.end else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Selection:
        return cls(**{k: d.get(k) for k in ("asset_class", "symbol", "freq", "start", "end")})

    def key(self) -> str:
        """A stable string key (for caches)."""
        return "|".join(str(v) for v in self.to_dict().values())
