"""Which column of a user's file is ts / open / high / low / close / volume.

Names are split into lower-case words (``VolumeFrom`` -> volume from, ``<OPEN>`` -> open,
``BTC-USD_Close`` -> btc usd close, ``1. open`` -> open) and each field has its words, with
vendor prefixes and suffixes allowed around them. ``Adj Close``, ``Price`` or bid/ask prices only
stand in when no plain close / price exists; ``close_time``, ``Weighted_Price``, taker volumes
and trade counts are never taken. Of several volume columns the base-currency one wins over
quote, tick or ``USD`` volumes (``VolumeFrom`` over ``VolumeTo``, ``Volume BTC`` over ``Volume
USD`` when the symbol is BTC); a tie is refused naming the candidates and ``--map``. Separate
date and time columns are joined; an unnamed first column holding timestamps (a pandas index
written to CSV) is the time. An explicit mapping (``--map field=COLUMN``) always wins;
``--map volume=none`` stores zero volume for files that have none.
"""
from __future__ import annotations

import re

import polars as pl

from synthwb.core.errors import DataError
from synthwb.data.timeparse import parse_timestamps
from synthwb.data.validate import join_problems

FIELDS = ("ts", "open", "high", "low", "close", "volume")
NO_VOLUME = "none"
MISSING = "__missing__"

_TS_STRONG = {"ts", "timestamp", "timestamps", "datetime", "unix", "epoch"}
_TS_WORDS = {"time", "date", "day", "period", "dt"}
_TS_QUALIFIERS = {"utc", "gmt", "open", "start", "bar", "candle", "ms", "s", "begin", "opening", "local"}
_PRICE_WORDS = {"open": {"open", "opening", "first"}, "high": {"high", "hi", "max", "highest"},
                "low": {"low", "lo", "min", "lowest"}, "close": {"close", "closing", "last"}}
_SINGLE = {"o": "open", "h": "high", "l": "low", "c": "close", "v": "volume", "t": "ts"}
_PRICE_EXCLUDE = {"weighted", "vwap", "avg", "average", "mean", "typical", "change", "chg", "pct", "percent",
                  "prev", "previous", "diff", "return", "ret", "interest", "count", "trades", "time", "date",
                  "timestamp", "volume", "vol", "ma", "sma", "ema"}
_SECONDARY_PRICE = {"adj", "adjusted", "bid", "ask", "mid"}
_VOL_WORDS = {"volume", "volumes", "vol", "vols", "qty", "quantity", "size", "tickvol", "tickvolume"}
_VOL_EXCLUDE = {"taker", "maker", "buy", "sell", "trades", "count", "number", "avg", "average", "change", "pct",
                "ma", "sma", "ema", "time", "date"}
_QUOTE = {"quote", "to", "currency", "usd", "usdt", "usdc", "busd", "eur", "gbp", "jpy", "krw", "notional",
          "value", "turnover"}
_BASE = {"base", "from"}
_TICK = {"tick", "ticks", "tickvol", "tickvolume"}
NAMES_HINT = {"ts": "timestamp/time/date/datetime/open_time/unix", "open": "open/o/first",
              "high": "high/h/max", "low": "low/l/min", "close": "close/c/last/price",
              "volume": "volume/vol/v/qty"}
_UNNAMED = re.compile(r"^(column_1|unnamed_0|index|level_0|index_level_0)$")
_TIME_ONLY = re.compile(r"^\d{1,2}:\d{2}(:\d{2}([.,]\d+)?)?$|^\d{4}(\d{2})?$")


def words(name: str) -> list[str]:
    s = re.sub(r"([a-z])([A-Z])", r"\1_\2", str(name)).lower()
    s = re.sub(r"^\s*\d+\s*[.)]\s*", "", s)  # Alpha Vantage's "1. open"
    out = []
    for t in re.split(r"[^a-z0-9]+", s):
        # CryptoCompare's volumefrom / volumeto, quotevolume: split the volume word off
        m = re.fullmatch(r"(volume|vol)(from|to|base|quote|usd|usdt|btc)|(quote|base|tick)(volume|vol)", t)
        out += [g for g in (m.groups() if m else (t,)) if g]
    return out


def _key(name: str) -> str:
    return "_".join(words(name))


def ts_rank(toks: list[str]) -> int | None:
    """3: clearly the bar time (timestamp, open_time, Date Time, time_utc); 2: date / time alone;
    1: local time; None: not a time column (close_time is the bar's end)."""
    if not toks:
        return None
    s = set(toks)
    if s & {"close", "end", "closing"}:
        return None
    if toks == ["t"] or s & _TS_STRONG:
        return 3
    if s <= _TS_WORDS | _TS_QUALIFIERS and s & _TS_WORDS:
        if "local" in s:
            return 1
        if {"date", "time"} <= s or s & (_TS_QUALIFIERS - {"local", "ms", "s"}):
            return 3
        return 2
    return None


def price_rank(toks: list[str]) -> tuple[str, int] | None:
    if len(toks) == 1 and toks[0] in _SINGLE and _SINGLE[toks[0]] in _PRICE_WORDS:
        return _SINGLE[toks[0]], 3
    s = set(toks)
    if s & _PRICE_EXCLUDE:
        return None
    fields = {f for f, w in _PRICE_WORDS.items() if s & w}
    if not fields:
        return ("close", 1) if toks == ["price"] else None
    if len(fields) > 1:
        return None
    return fields.pop(), 1 if s & _SECONDARY_PRICE else 3


def volume_kind(toks: list[str], symbol: str | None) -> str | None:
    s = set(toks)
    if toks != ["v"] and not s & _VOL_WORDS and "tickvol" not in "".join(toks):
        return None
    if s & _VOL_EXCLUDE:
        return None
    sym = (symbol or "").lower()
    if s & _BASE or (sym and any(t == sym or (len(t) >= 3 and sym.startswith(t) and t not in _QUOTE) for t in toks)):
        return "base"
    if s & _QUOTE:
        return "quote"
    if s & _TICK or "tickvol" in "".join(toks):
        return "tick"
    return "plain"


def _looks_like_time(values: pl.Series) -> bool:
    sample = values.drop_nulls().head(20)
    if sample.len() == 0:
        return False
    try:
        ts, info = parse_timestamps(sample.cast(pl.String) if sample.dtype == pl.String else sample)
    except DataError:
        return False
    return info.get("kind") != "epoch" or ts.dt.year().min() >= 1980


def _time_only(values: pl.Series) -> bool:
    if values.dtype != pl.String:
        values = values.cast(pl.String)
    v = values.drop_nulls().head(50).str.strip_chars()
    return v.len() > 0 and bool(v.str.contains(_TIME_ONLY.pattern).all())


def _find(columns: list[str], value: str, field: str) -> str:
    if value in columns:
        return value
    by_key = [c for c in columns if c.strip().lower() == value.strip().lower()]
    if len(by_key) == 1:
        return by_key[0]
    raise DataError(f"--map {field}={value}: the file has no column {value!r} (columns: {', '.join(columns)})")


def explicit_mapping(columns: list[str], mapping: dict[str, str]) -> dict[str, object]:
    """Check ``{field: column}`` (``A+B`` joins a date and a time column; ``volume=none``)."""
    out: dict[str, object] = {}
    for field, value in mapping.items():
        field = str(field).strip().lower()
        value = str(value).strip()
        if field not in FIELDS:
            raise DataError(f"--map {field}={value}: unknown field {field!r}; map one of {', '.join(FIELDS)}")
        if field == "volume" and value.lower() in (NO_VOLUME, "0", "zero"):
            out[field] = None
        elif field == "ts" and value not in columns and "+" in value:
            out[field] = [_find(columns, part, field) for part in value.split("+")]
        else:
            out[field] = _find(columns, value, field)
    return out


def describe(source, field: str = "volume") -> str:
    """How a mapped source reads in messages and the preview (None: no column for ``field``)."""
    if source is None or source == MISSING:
        return "(none: volume 0)" if field == "volume" and source is None else "(no column found)"
    if isinstance(source, list):
        return " + ".join(source)
    return str(source)


def guess_mapping(raw: pl.DataFrame, symbol: str | None = None, header: bool = True,
                  explicit: dict[str, str] | None = None,
                  into: dict | None = None, candidates: dict | None = None,
                  notes: list | None = None) -> tuple[dict[str, object], dict[str, list[str]], list[str]]:
    """``(mapping, candidates, notes)``: for each field the source column (a list for a joined
    date + time, None for no volume). Raises :class:`DataError` naming the fix when a field has
    no column or two equally good ones; ``into`` / ``candidates`` / ``notes`` (filled in place
    when given) then still hold what was settled, for a mapping form to start from."""
    cols = list(raw.columns)
    chosen = into if into is not None else {}
    chosen.update(explicit_mapping(cols, explicit or {}))
    errors: list[DataError] = []
    unsettled: set[str] = set()  # fields with two equally good columns: named once, not again as missing
    notes = notes if notes is not None else []
    candidates = candidates if candidates is not None else {}
    candidates.update({f: [] for f in FIELDS})

    def settle(f: str, pick, *args) -> None:
        if f in chosen:
            return
        try:
            chosen[f] = pick(*args)
        except DataError as exc:
            errors.append(exc)
            unsettled.add(f)
    if not header:
        notes.append("no header row: columns read as time, open, high, low, close, volume in that order")
        chosen.update(_positional(raw, chosen))
        return chosen, candidates, notes
    ranked: dict[str, list[tuple[int, str]]] = {f: [] for f in FIELDS}
    vol_kinds: dict[str, str] = {}
    for c in cols:
        toks = words(c)
        if toks == ["v"]:
            vol_kinds[c] = "plain"
            continue
        r = ts_rank(toks)
        if r is not None:
            ranked["ts"].append((r, c))
            continue
        p = price_rank(toks)
        if p is not None:
            ranked[p[0]].append((p[1], c))
            continue
        k = volume_kind(toks, symbol)
        if k is not None:
            vol_kinds[c] = k
    for f in ("open", "high", "low", "close"):
        candidates[f] = [c for _, c in sorted(ranked[f], key=lambda x: -x[0])]
        settle(f, _best, f, ranked[f], notes)
    candidates["volume"] = list(vol_kinds)
    settle("volume", _pick_volume, raw, vol_kinds, notes)
    candidates["ts"] = [c for _, c in sorted(ranked["ts"], key=lambda x: -x[0])]
    settle("ts", _pick_ts, raw, ranked["ts"], notes)
    problems = [str(e) for e in errors]  # every field's problem at once, not the first one found
    missing = [f for f in FIELDS if f not in unsettled
               and (chosen.get(f) == MISSING or (chosen.get(f) is None and f != "volume"))]
    if missing:
        fix = " ".join(f"--map {f}=COLUMN" for f in missing)
        extra = "; a file without volume imports with --map volume=none" if "volume" in missing else ""
        hint = "; ".join(f"{f}: {NAMES_HINT[f]}" for f in missing)
        problems.append(
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} (found: {', '.join(cols)}; "
            f"recognised names, any case, with vendor prefixes or suffixes: {hint}); "
            f"name {'them' if len(missing) > 1 else 'it'} with {fix}{extra}"
        )
    if problems:
        raise DataError(join_problems(problems))
    return chosen, candidates, notes


def _ambiguous(field: str, names: list[str]) -> DataError:
    return DataError(f"two or more columns fit {field}: {', '.join(names)}; pick one with --map {field}={names[0]} "
                     f"(or --map {field}={names[1]})")


def _exact(field: str, names: list[str]) -> str | None:
    """The one column named exactly ``field`` (any case) among equally good ones, else None: ``close``
    beside ``close_liquidity`` is the close itself."""
    exact = [c for c in names if c.strip().lower() == field]
    return exact[0] if len(exact) == 1 else None


def _best(field: str, ranked: list[tuple[int, str]], notes: list[str]):
    if not ranked:
        return None
    top = max(r for r, _ in ranked)
    best = [c for r, c in ranked if r == top]
    if len(best) > 1:
        if (pick := _exact(field, best)) is None:
            raise _ambiguous(field, best)
        best = [pick]
    others = [c for _, c in ranked if c != best[0]]
    if others:
        notes.append(f"{field} from {best[0]} (not {', '.join(others)})")
    return best[0]


def _pick_volume(raw: pl.DataFrame, kinds: dict[str, str], notes: list[str]):
    if not kinds:
        return MISSING
    if len(kinds) > 1:  # an all-zero column (MetaTrader's VOL on fx) gives way to one with data
        nonzero = {c: k for c, k in kinds.items() if _has_volume(raw[c])}
        kinds = nonzero or kinds
    cands = list(kinds)
    pick = None
    if len(cands) == 1:
        pick = cands[0]
    else:
        for kind in ("base", "plain", "tick"):
            of_kind = [c for c in cands if kinds[c] == kind]
            if len(of_kind) == 1:
                pick = of_kind[0]
                break
            if len(of_kind) > 1:
                raise _ambiguous("volume", of_kind)
        if pick is None:
            raise _ambiguous("volume", cands)
    others = [c for c in cands if c != pick]
    if others:
        notes.append(f"volume from {pick} ({kinds[pick]} volume; not {', '.join(others)}: change with --map volume=COLUMN)")
    return pick


def _has_volume(s: pl.Series) -> bool:
    if s.dtype == pl.String:
        s = s.str.strip_chars().str.replace_all(",", ".").cast(pl.Float64, strict=False)
    return bool(s.cast(pl.Float64, strict=False).fill_null(0).abs().sum() > 0)


def _pick_ts(raw: pl.DataFrame, ranked: list[tuple[int, str]], notes: list[str]):
    cols = list(raw.columns)
    if not ranked:
        first = cols[0]
        if _UNNAMED.match(_key(first) or "column_1") and _looks_like_time(raw[first]):
            notes.append(f"time from the unnamed first column {first!r}")
            return first
        return None
    top = max(r for r, _ in ranked)
    best = [c for r, c in ranked if r == top]
    if len(best) == 2:
        date = [c for c in best if "date" in words(c) or "day" in words(c)]
        time = [c for c in best if c not in date and _time_only(raw[c])]
        if len(date) == 1 and len(time) == 1:
            notes.append(f"time from {date[0]} + {time[0]} (a date and a clock column)")
            return [date[0], time[0]]
    if len(best) > 1:
        raise _ambiguous("ts", best)
    return best[0]


def _positional(raw: pl.DataFrame, chosen: dict[str, object]) -> dict[str, object]:
    cols = list(raw.columns)
    out = dict(chosen)
    i = 0
    if "ts" not in out:
        if len(cols) > 1 and _time_only(raw[cols[1]]):
            out["ts"], i = [cols[0], cols[1]], 2
        else:
            out["ts"], i = cols[0], 1
    for f in ("open", "high", "low", "close", "volume"):
        if f not in out:
            out[f] = cols[i] if i < len(cols) else (MISSING if f == "volume" else None)
        i += 1
    if out["volume"] == MISSING or any(out[f] is None for f in ("open", "high", "low", "close")):
        raise DataError(f"the file has no header and only {len(cols)} columns; name the fields with "
                        "--map (e.g. --map volume=none for a file without volume)")
    return out
