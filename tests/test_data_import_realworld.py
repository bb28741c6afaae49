"""Real-world-shaped candle files, one table row each: the file (written by the test into a tmp
dir), the flags a user would pass (at most the documented ones), and either the bars that must
land in the lake (hand-computed UTC times and values) or the refusal, whose message must name the
problem and the fix, with the lake byte-for-byte unchanged."""
from __future__ import annotations

import gzip
import io
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from synthwb.core.errors import DataError
from synthwb.data.lake import read_bars
from synthwb.data.schema import Selection
from synthwb.data.sources import import_file, preview_file


def dt(*a) -> datetime:
    return datetime(*a, tzinfo=UTC)


def bars(start: datetime, n: int, step: timedelta, fmt) -> list[str]:
    """n consistent OHLCV rows: open = 100 + i, high = open + 2, low = open - 1, close = open + 1,
    volume = 10 + i."""
    return [f"{fmt(start + i * step)},{100 + i},{102 + i},{99 + i},{101 + i},{10 + i}" for i in range(n)]


def lines(*rows, end: str = "\n") -> bytes:
    return (end.join(rows) + end).encode()


H = timedelta(hours=1)
M = timedelta(minutes=1)
D = timedelta(days=1)


def gz(data: bytes) -> bytes:
    return gzip.compress(data)


def zipped(*members: tuple[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


@dataclass
class Case:
    id: str
    name: str
    data: bytes
    opts: dict = field(default_factory=dict)
    # accepted: (first ts, last ts, rows) plus {column: value of the first bar}
    first: datetime | None = None
    last: datetime | None = None
    rows: int | None = None
    values: dict = field(default_factory=dict)
    # refused: a regex of the message and the fix it must name
    refused: str | None = None
    fix: str | None = None
    warning: str | None = None


# -- files -----------------------------------------------------------------------------------

ISO = lambda t: t.strftime("%Y-%m-%d %H:%M:%S")
EPOCH_MS = lambda t: str(int(t.timestamp() * 1000))
EPOCH_S = lambda t: str(int(t.timestamp()))

# Yahoo puts Adj Close between Close and Volume
yahoo_daily = lines("Date,Open,High,Low,Close,Adj Close,Volume", *[
    f"2024-01-{2 + i:02d},{100 + i},{102 + i},{99 + i},{101 + i},{90.5 + i},{1000 + i}" for i in range(5)])


def _ny(t: datetime) -> str:  # New York wall time with its offset, as yfinance writes it
    off = -4 if t >= dt(2024, 3, 10, 7) else -5
    local = t + timedelta(hours=off)
    return local.strftime("%Y-%m-%d %H:%M:%S") + f"{off:+03d}:00"


yahoo_intraday_dst = lines("Datetime,Open,High,Low,Close,Adj Close,Volume", *[
    f"{_ny(t)},{100 + i},{102 + i},{99 + i},{101 + i},{101 + i},{5 + i}"
    for i, t in enumerate([dt(2024, 3, 8, 19, 30), dt(2024, 3, 8, 20, 30), dt(2024, 3, 11, 13, 30), dt(2024, 3, 11, 14, 30)])])

london_daily = lines("time,open,high,low,close,volume",
                     "2024-03-28T00:00:00+00:00,10,12,9,11,1",
                     "2024-03-29T00:00:00+00:00,11,13,10,12,1",
                     "2024-04-01T00:00:00+01:00,12,14,11,13,1",
                     "2024-04-02T00:00:00+01:00,13,15,12,14,1")

cdd = lines("https://www.CryptoDataDownload.com",
            "unix,date,symbol,open,high,low,close,Volume BTC,Volume USDT,tradecount",
            *reversed([f"{EPOCH_MS(dt(2024, 1, 1) + i * H)},{ISO(dt(2024, 1, 1) + i * H)},BTC/USDT,"
                       f"{100 + i},{102 + i},{99 + i},{101 + i},{3 + i},{300 + i},{7}" for i in range(6)]))

cdd_12h = lines("https://www.CryptoDataDownload.com",
                "Date,Symbol,Open,High,Low,Close,Volume BTC,Volume USD",
                *reversed([f"{(dt(2019, 10, 17, 6) + i * H).strftime('%Y-%m-%d %I-%p')},BTCUSD,"
                           f"{100 + i},{102 + i},{99 + i},{101 + i},{2 + i},{200 + i}" for i in range(8)]))

cryptocompare = lines("time,high,low,open,volumefrom,volumeto,close,conversionType,conversionSymbol", *[
    f"{EPOCH_S(dt(2024, 2, 1) + i * H)},{102 + i},{99 + i},{100 + i},{4 + i},{400 + i},{101 + i},direct,"
    for i in range(6)])

two_volumes = lines("timestamp,open,high,low,close,volume_btc,volume", *[
    f"{ISO(dt(2024, 1, 1) + i * M)},{100 + i},{102 + i},{99 + i},{101 + i},{1 + i},{1000 + i}" for i in range(4)])

# a Binance-derived fixture (vaquum-limen's tests): exact price names beside *_liquidity, volume beside maker_volume
limen_like = lines(
    "datetime,open,high,low,close,mean,std,volume,maker_ratio,no_of_trades,open_liquidity,high_liquidity,"
    "low_liquidity,close_liquidity,liquidity_sum,maker_volume,maker_liquidity", *[
        f"{ISO(dt(2025, 1, 1) + i * 15 * M)}+00:00,{100 + i},{102 + i},{99 + i},{101 + i},100.5,0.4,{7 + i},0.4,50,"
        f"{9000 + i},{9100 + i},{8900 + i},{9050 + i},36000,{3 + i},4000" for i in range(4)])

pandas_index = lines(",open,high,low,close,volume", *bars(dt(2024, 5, 1), 5, 5 * M, ISO))

binance_headerless = lines(*[
    f"{EPOCH_MS(dt(2024, 3, 1) + i * M)},{100 + i:.8f},{102 + i:.8f},{99 + i:.8f},{101 + i:.8f},{10 + i:.8f},"
    f"{int(EPOCH_MS(dt(2024, 3, 1) + (i + 1) * M)) - 1},{1000 + i:.8f},{50},{5:.8f},{500:.8f},0" for i in range(5)])

binance_header = lines(
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore",
    *[f"{EPOCH_MS(dt(2024, 3, 1) + i * H)},{100 + i},{102 + i},{99 + i},{101 + i},{10 + i},"
      f"{int(EPOCH_MS(dt(2024, 3, 1) + (i + 1) * H)) - 1},{1000 + i},50,5,500,0" for i in range(4)])

metatrader = lines("<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>", *[
    f"{(dt(2024, 1, 2) + i * 15 * M):%Y.%m.%d}\t{(dt(2024, 1, 2) + i * 15 * M):%H:%M:%S}\t1.{1040 + i}\t1.{1050 + i}"
    f"\t1.{1030 + i}\t1.{1045 + i}\t{120 + i}\t0\t2" for i in range(6)])

semicolon_decimal_comma = lines("Date;Open;High;Low;Close;Volume", *[
    f"{(dt(2024, 1, 15) + i * H):%d.%m.%Y %H:%M};1,{1040 + i};1,{1050 + i};1,{1030 + i};1,{1045 + i};1.234,5"
    for i in range(5)])

dukascopy = lines("Gmt time,Open,High,Low,Close,Volume", *[
    f"{(dt(2017, 1, 1, 22) + i * H):%d.%m.%Y %H:%M:%S}.000,1.0{500 + i},1.0{510 + i},1.0{490 + i},1.0{505 + i},{1000 + i}"
    for i in range(30)])

us_slashes = lines("Date,Open,High,Low,Close,Volume",
                   *bars(dt(2024, 1, 10), 6, D, lambda t: f"{t.month}/{t.day}/{t.year}"))

one_bar_ambiguous = lines("Date,Open,High,Low,Close,Volume", "05/06/2024 10:00,10,12,9,11,1")

pandas_float_epoch = lines("timestamp,open,high,low,close,volume",
                           *bars(dt(2024, 6, 1), 4, H, lambda t: f"{t.timestamp():.1f}"))
epoch_us = lines("t,o,h,l,c,v", *bars(dt(2024, 6, 1), 4, H, lambda t: str(int(t.timestamp()) * 1_000_000)))
epoch_ns = lines("ts,open,high,low,close,volume",
                 *bars(dt(2024, 6, 1), 4, H, lambda t: str(int(t.timestamp()) * 1_000_000_000)))

bom_crlf = b"\xef\xbb\xbf" + lines("Date,Open,High,Low,Close,Volume", *bars(dt(2024, 2, 1), 4, D, lambda t: f"{t:%Y-%m-%d}"),
                                   end="\r\n")
plain_1h = lines("timestamp,open,high,low,close,volume", *bars(dt(2024, 4, 1), 6, H, ISO))
tab_separated = plain_1h.replace(b",", b"\t")
commented = b"# exported by ChartTool 3.2\n# symbol: ETHUSD\n# times in UTC\n\n" + plain_1h
ragged = plain_1h.replace(b"2024-04-01 03:00:00,103,105,102,104,13",
                          b"2024-04-01 03:00:00,103,105,102,104,13,extra")

dup_rows = bars(dt(2024, 4, 1), 5, H, ISO)
dup_rows.insert(3, "2024-04-01 02:00:00,103,106,101,105,30")  # row 3 again, other values
duplicates = lines("timestamp,open,high,low,close,volume", *dup_rows)

dst_duplicate = lines("Datetime,Open,High,Low,Close,Volume",
                      "2024-11-03 00:00:00-04:00,10,12,9,11,1",
                      "2024-11-03 01:00:00-04:00,11,13,10,12,2",
                      "2024-11-03 01:00:00-05:00,12,14,11,13,3",
                      "2024-11-03 01:00:00-05:00,12,14,11,13,3",
                      "2024-11-03 02:00:00-05:00,13,15,12,14,4")

naive_fall_back = lines("time,open,high,low,close,volume",
                        "2024-11-03 00:00,10,12,9,11,1", "2024-11-03 01:00,11,13,10,12,2",
                        "2024-11-03 01:00,12,14,11,13,3", "2024-11-03 02:00,13,15,12,14,4")
naive_spring_gap = lines("time,open,high,low,close,volume",
                         "2024-03-10 01:30,10,12,9,11,1", "2024-03-10 02:30,11,13,10,12,2",
                         "2024-03-10 03:30,12,14,11,13,3")

future = lines("timestamp,open,high,low,close,volume", *bars(dt(2091, 1, 1), 3, H, ISO))
daily_as_minutes = lines("Date,Open,High,Low,Close,Volume", *bars(dt(2024, 1, 2), 6, D, lambda t: f"{t:%Y-%m-%d}"))
stray_17 = plain_1h.replace(b"2024-04-01 04:00:00", b"2024-04-01 04:17:00")

investing = lines('"Date","Price","Open","High","Low","Vol.","Change %"', *reversed([
    f'"{(dt(2024, 1, 16) + i * D):%m/%d/%Y}","{42_001 + i:,}.5","{42_000 + i:,}.0","{42_100 + i:,}.5","{41_800 + i:,}.2",'
    f'"{45.6 + i:.1f}K","1.2%"' for i in range(5)]))

bitstamp_kaggle = lines("Timestamp,Open,High,Low,Close,Volume_(BTC),Volume_(Currency),Weighted_Price", *[
    f"{EPOCH_S(dt(2021, 3, 1) + i * M)},{100 + i},{102 + i},{99 + i},{101 + i},{1 + i},{100 + i},{100.5 + i}"
    for i in range(5)])

unknown_names = lines("When,O,H,L,C,Qty", *bars(dt(2024, 7, 1), 4, H, ISO))

finam = lines("<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>", *[
    f"SBER,60,{(dt(2024, 1, 9, 7) + i * H):%Y%m%d},{(dt(2024, 1, 9, 7) + i * H):%H%M%S},{100 + i},{102 + i},{99 + i},"
    f"{101 + i},{500 + i}" for i in range(4)])

histdata = lines(*[f"{(dt(2024, 1, 2) + i * M):%Y%m%d %H%M%S};1.{1040 + i};1.{1050 + i};1.{1030 + i};1.{1045 + i};0"
                   for i in range(5)])

mixed_naive_offset = lines("time,open,high,low,close,volume",
                           "2024-01-02 00:00:00+00:00,10,12,9,11,1", "2024-01-02 01:00:00,11,13,10,12,2")

no_volume_fx = lines("Date,Open,High,Low,Close", *[
    f"{(dt(2024, 1, 2) + i * H):%Y-%m-%d %H:%M},1.{1040 + i},1.{1050 + i},1.{1030 + i},1.{1045 + i}" for i in range(4)])

bid_ask = lines("time,BidOpen,BidHigh,BidLow,BidClose,AskOpen,AskHigh,AskLow,AskClose,Volume", *[
    f"{ISO(dt(2024, 1, 2) + i * M)},{100 + i},{102 + i},{99 + i},{101 + i},{100.1 + i},{102.1 + i},{99.1 + i},{101.1 + i},5"
    for i in range(3)])

two_csvs_zip = zipped(("a.csv", plain_1h), ("b.csv", plain_1h))

CASES = [
    Case("yahoo-daily-adj-close", "SPY.csv", yahoo_daily, {"asset_class": "equity", "freq": "1d"},
         first=dt(2024, 1, 2), last=dt(2024, 1, 6), rows=5, values={"close": 101.0, "volume": 1000.0}),
    Case("yahoo-intraday-offsets-across-dst", "spy_1h.csv", yahoo_intraday_dst, {"asset_class": "equity", "freq": "1h"},
         first=dt(2024, 3, 8, 19, 30), last=dt(2024, 3, 11, 14, 30), rows=4, values={"open": 100.0}),
    Case("london-offsets-+00-+01-daily", "ftse.csv", london_daily, {"asset_class": "index", "freq": "1d"},
         first=dt(2024, 3, 28), last=dt(2024, 4, 1, 23), rows=4),
    Case("cryptodatadownload-url-line-newest-first", "Binance_BTCUSDT_1h.csv", cdd, {"freq": "1h", "symbol": "BTC"},
         first=dt(2024, 1, 1), last=dt(2024, 1, 1, 5), rows=6, values={"close": 101.0, "volume": 3.0}),
    Case("cryptodatadownload-12h-clock-09-AM", "gemini_BTCUSD_1hr.csv", cdd_12h, {"freq": "1h", "symbol": "BTC"},
         first=dt(2019, 10, 17, 6), last=dt(2019, 10, 17, 13), rows=8, values={"volume": 2.0}),
    Case("cryptocompare-volumefrom-default", "histohour.csv", cryptocompare, {"freq": "1h"},
         first=dt(2024, 2, 1), rows=6, values={"open": 100.0, "close": 101.0, "volume": 4.0}),
    Case("cryptocompare-map-volumeto", "histohour.csv", cryptocompare, {"freq": "1h", "mapping": {"volume": "volumeto"}},
         first=dt(2024, 2, 1), rows=6, values={"volume": 400.0}),
    Case("limen-exact-names-beside-liquidity-and-maker-volume", "spot_15m.csv", limen_like, {"symbol": "BTC", "freq": "15min"},
         first=dt(2025, 1, 1), last=dt(2025, 1, 1, 0, 45), rows=4, values={"open": 100.0, "close": 101.0, "volume": 7.0}),
    Case("two-volume-columns-ambiguous", "xbt.csv", two_volumes, {"symbol": "XBT"},
         refused=r"two or more columns fit volume: volume_btc, volume", fix="--map volume="),
    Case("two-volume-columns-mapped", "xbt.csv", two_volumes, {"symbol": "XBT", "mapping": {"volume": "volume"}},
         first=dt(2024, 1, 1), rows=4, values={"volume": 1000.0}),
    Case("two-volume-columns-symbol-names-base", "btc.csv", two_volumes, {"symbol": "BTC"},
         first=dt(2024, 1, 1), rows=4, values={"volume": 1.0}),
    Case("pandas-index-unnamed-first-column", "df.csv", pandas_index, {"freq": "5min"},
         first=dt(2024, 5, 1), last=dt(2024, 5, 1, 0, 20), rows=5),
    Case("binance-kline-headerless", "BTCUSDT-1m-2024-03.csv", binance_headerless, {},
         first=dt(2024, 3, 1), rows=5, values={"high": 102.0, "volume": 10.0}),
    Case("binance-kline-header-quote-taker-volumes", "klines.csv", binance_header, {"freq": "1h"},
         first=dt(2024, 3, 1), rows=4, values={"volume": 10.0}),
    Case("metatrader-tab-date-time-tickvol", "EURUSD15.csv", metatrader, {"asset_class": "fx", "freq": "15min"},
         first=dt(2024, 1, 2), last=dt(2024, 1, 2, 1, 15), rows=6, values={"open": 1.104, "volume": 120.0}),
    Case("semicolon-decimal-comma-day-first", "eu.csv", semicolon_decimal_comma, {"asset_class": "fx", "freq": "1h"},
         first=dt(2024, 1, 15), rows=5, values={"open": 1.104, "volume": 1234.5}),
    Case("dukascopy-dotted-day-first-millis", "EURUSD_Candlestick_1_Hour.csv", dukascopy, {"asset_class": "fx", "freq": "1h"},
         first=dt(2017, 1, 1, 22), last=dt(2017, 1, 3, 3), rows=30, values={"open": 1.05}),
    Case("us-month-first-slashes", "us.csv", us_slashes, {"asset_class": "equity", "freq": "1d"},
         first=dt(2024, 1, 10), last=dt(2024, 1, 15), rows=6),
    Case("ambiguous-day-month-refused", "one.csv", one_bar_ambiguous, {},
         refused=r"ambiguous day/month order .* 2024-06-05 .* 2024-05-06", fix="--ts-format"),
    Case("ambiguous-day-month-with-ts-format", "one.csv", one_bar_ambiguous, {"ts_format": "%d/%m/%Y %H:%M"},
         first=dt(2024, 6, 5, 10), rows=1),
    Case("pandas-float-epoch-seconds", "f.csv", pandas_float_epoch, {"freq": "1h"}, first=dt(2024, 6, 1), rows=4),
    Case("epoch-microseconds", "us.csv", epoch_us, {"freq": "1h"}, first=dt(2024, 6, 1), rows=4),
    Case("epoch-nanoseconds", "ns.csv", epoch_ns, {"freq": "1h"}, first=dt(2024, 6, 1), last=dt(2024, 6, 1, 3), rows=4),
    Case("utf8-bom-crlf", "excel.csv", bom_crlf, {"freq": "1d"}, first=dt(2024, 2, 1), rows=4),
    Case("gzip-csv", "bars.csv.gz", gz(plain_1h), {"freq": "1h"}, first=dt(2024, 4, 1), rows=6),
    Case("zip-csv", "bars.zip", zipped(("data/bars.csv", plain_1h)), {"freq": "1h"}, first=dt(2024, 4, 1), rows=6),
    Case("zip-two-csvs-refused", "two.zip", two_csvs_zip, {"freq": "1h"},
         refused=r"two.zip holds 2 files \(a.csv, b.csv\)", fix="zip exactly one CSV"),
    Case("tab-separated", "bars.tsv", tab_separated, {"freq": "1h"}, first=dt(2024, 4, 1), rows=6),
    Case("comment-preamble-lines", "export.csv", commented, {"freq": "1h"}, first=dt(2024, 4, 1), rows=6),
    Case("ragged-row-refused", "ragged.csv", ragged, {"freq": "1h"},
         refused=r"line 5 of ragged.csv has 7 fields but the header has 6", fix="fix or delete that line"),
    Case("duplicates-refused-by-default", "dup.csv", duplicates, {"freq": "1h"},
         refused=r"duplicate timestamps in rows 3, 4 \(2024-04-01 02:00:00 UTC appears 2 times\)",
         fix="--on-duplicate first|last|mean"),
    Case("duplicates-keep-last", "dup.csv", duplicates, {"freq": "1h", "on_duplicate": "last"},
         first=dt(2024, 4, 1), rows=5, values={}),
    Case("dst-same-utc-bar-twice-refused", "ny.csv", dst_duplicate, {"asset_class": "equity", "freq": "1h"},
         refused=r"duplicate timestamps in rows 3, 4 \(2024-11-03 06:00:00 UTC", fix="--on-duplicate"),
    Case("dst-same-utc-bar-twice-keep-first", "ny.csv", dst_duplicate,
         {"asset_class": "equity", "freq": "1h", "on_duplicate": "first"},
         first=dt(2024, 11, 3, 4), last=dt(2024, 11, 3, 7), rows=4),
    Case("naive-in-tz-repeated-hour", "ny_naive.csv", naive_fall_back, {"freq": "1h", "tz": "America/New_York"},
         first=dt(2024, 11, 3, 4), last=dt(2024, 11, 3, 7), rows=4),
    Case("naive-in-tz-skipped-hour-refused", "gap.csv", naive_spring_gap, {"freq": "1h", "tz": "America/New_York"},
         refused=r"row 2 of time \(2024-03-10 02:30\) do not exist in America/New_York", fix="Check --tz"),
    Case("invalid-zone-refused", "plain.csv", plain_1h, {"freq": "1h", "tz": "Mars/Olympus"},
         refused=r"unknown time zone 'Mars/Olympus'", fix="IANA name"),
    Case("future-dates-refused", "future.csv", future, {"freq": "1h"},
         refused=r"rows 1, 2, 3 are dated in the future, after .* \(latest 2091-01-01 02:00\)", fix="check the timestamp unit"),
    Case("daily-bars-declared-1min-refused", "daily.csv", daily_as_minutes, {"freq": "1min"},
         refused=r"the bars are 1d apart \(inferred frequency 1d\) but --freq is 1min", fix="use --freq 1d"),
    Case("one-bar-at-17-refused", "stray.csv", stray_17, {"freq": "1h"},
         refused=r"row 5 \(2024-04-01 04:17:00 UTC\) is off the 1h grid .*inferred frequency 1h", fix="--drop-off-grid"),
    Case("one-bar-at-17-dropped", "stray.csv", stray_17, {"freq": "1h", "drop_off_grid": True}, first=dt(2024, 4, 1),
         rows=5, warning="dropped 1 row off the 1h grid: row 5 (2024-04-01 04:17:00)"),
    Case("investing-com-price-vol-k-thousands", "BTC_USD Historical Data.csv", investing, {"freq": "1d"},
         first=dt(2024, 1, 16), last=dt(2024, 1, 20), rows=5, values={"close": 42001.5, "open": 42000.0, "volume": 45600.0}),
    Case("kaggle-bitstamp-volume-btc-currency", "bitstampUSD_1-min_data.csv", bitstamp_kaggle, {"symbol": "BTC"},
         first=dt(2021, 3, 1), rows=5, values={"volume": 1.0}),
    Case("unknown-time-name-refused", "odd.csv", unknown_names, {"freq": "1h"},
         refused=r"missing column ts \(found: When, O, H, L, C, Qty", fix="--map ts=COLUMN"),
    Case("unknown-time-name-mapped", "odd.csv", unknown_names, {"freq": "1h", "mapping": {"ts": "When"}},
         first=dt(2024, 7, 1), rows=4, values={"volume": 10.0}),
    Case("finam-compact-date-time", "SBER_240109.csv", finam, {"asset_class": "equity", "freq": "1h", "symbol": "SBER"},
         first=dt(2024, 1, 9, 7), rows=4, values={"volume": 500.0}),
    Case("histdata-headerless-semicolon", "DAT_ASCII_EURUSD_M1.csv", histdata, {"asset_class": "fx"},
         first=dt(2024, 1, 2), rows=5, values={"close": 1.1045, "volume": 0.0}),
    Case("offsets-mixed-with-naive-refused", "mixed.csv", mixed_naive_offset, {"freq": "1h"},
         refused=r"mixed time zones in time: row 1 carry a UTC offset but row 2 do not", fix="--tz"),
    Case("no-volume-refused", "fx.csv", no_volume_fx, {"asset_class": "fx", "freq": "1h"},
         refused=r"missing column volume", fix="--map volume=none"),
    Case("no-volume-map-none", "fx.csv", no_volume_fx, {"asset_class": "fx", "freq": "1h", "mapping": {"volume": "none"}},
         first=dt(2024, 1, 2), rows=4, values={"volume": 0.0, "close": 1.1045}),
    Case("bid-ask-prices-ambiguous", "ba.csv", bid_ask, {},
         refused=r"two or more columns fit open: BidOpen, AskOpen", fix="--map open=BidOpen"),
]


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def seeded_lake(lake_env, tmp_path):
    """A lake that already holds bars of every series the cases touch, so 'unchanged' is a real check."""
    for sym, freq, step in (("BTC", "1h", H), ("XBT", "1min", M)):
        seed = tmp_path / f"seed_{sym}.csv"
        seed.write_bytes(lines("timestamp,open,high,low,close,volume", *bars(dt(2000, 1, 1), 3, step, ISO)))
        import_file(seed, "crypto", sym, freq)
    return lake_env.root


def test_the_table_covers_at_least_25_real_world_files():
    assert len({c.id for c in CASES}) == len(CASES) >= 25
    assert sum(c.refused is None for c in CASES) >= 25


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_real_world_file(case: Case, seeded_lake, tmp_path):
    path = tmp_path / case.name
    path.write_bytes(case.data)
    opts = dict(case.opts)
    ac, sym, freq = opts.pop("asset_class", "crypto"), opts.pop("symbol", "ETH"), opts.pop("freq", "1min")
    before = snapshot(seeded_lake)
    if case.refused:
        with pytest.raises(DataError, match=case.refused) as exc:
            import_file(path, ac, sym, freq, **opts)
        assert case.fix in str(exc.value), str(exc.value)
        assert "\n" not in str(exc.value)
        assert snapshot(seeded_lake) == before, "a refused import changed the lake"
        return
    res = import_file(path, ac, sym, freq, **opts)
    out = read_bars(Selection(ac, sym, freq), root=seeded_lake)
    if sym in ("BTC", "XBT"):  # the seed's bars stay beside the new ones
        out = out.filter(out["ts"] >= dt(2001, 1, 1))
    assert res["rows_written"] == case.rows == out.height
    assert out["ts"][0] == case.first
    if case.last:
        assert out["ts"][-1] == case.last
    for col, want in case.values.items():
        assert out[col][0] == pytest.approx(want, rel=1e-12), col
    if case.warning:
        assert any(case.warning in w for w in res["warnings"]), res["warnings"]
    else:
        assert res["warnings"] == []


def test_duplicates_keep_first_last_or_mean_values(lake_env, tmp_path):
    path = tmp_path / "dup.csv"
    path.write_bytes(duplicates)
    got = {}
    for policy in ("first", "last", "mean"):
        import_file(path, "crypto", policy.upper(), "1h", on_duplicate=policy)
        got[policy] = read_bars(Selection("crypto", policy.upper(), "1h"), root=lake_env.root).row(2)[1:]
    # row 3 of the file: open 102 high 104 low 101 close 103 volume 12; row 4: 103 106 101 105 30
    assert got["first"] == (102.0, 104.0, 101.0, 103.0, 12.0)
    assert got["last"] == (103.0, 106.0, 101.0, 105.0, 30.0)
    assert got["mean"] == (102.5, 105.0, 101.0, 104.0, 21.0)


def test_preview_reports_mapping_zone_frequency_and_counts(tmp_path):
    path = tmp_path / "cdd.csv"
    path.write_bytes(cdd)
    pv = preview_file(path, freq="1h", asset_class="crypto", symbol="BTC").to_dict()
    assert pv["problem"] is None
    assert pv["mapping"] == {"ts": "unix", "open": "open", "high": "high", "low": "low", "close": "close",
                             "volume": "Volume BTC"}
    assert pv["shape"]["skipped_lines"] == ["https://www.CryptoDataDownload.com"] and pv["shape"]["header_line"] == 2
    assert pv["timestamps"]["format"] == "epoch ms" and pv["order"].startswith("newest first")
    assert (pv["rows"], pv["bars"], pv["duplicates"], pv["gaps"], pv["inferred_freq"]) == (6, 6, 0, 0, "1h")
    assert pv["first_rows"][0]["ts"] == "2024-01-01 00:00:00" and pv["last_rows"][-1]["ts"] == "2024-01-01 05:00:00"
    path.write_bytes(yahoo_intraday_dst)
    pv = preview_file(path, freq="1h", asset_class="equity").to_dict()
    assert pv["timestamps"]["zone"].startswith("explicit UTC offsets (-04:00, -05:00)")
    assert pv["gaps"] == 0  # Friday's last session hours, then Monday's first: nothing missing
    path.write_bytes(plain_1h.replace(b"2024-04-01 03:00:00,103,105,102,104,13\n", b""))
    pv = preview_file(path, freq="1h", asset_class="crypto").to_dict()
    assert (pv["rows"], pv["gaps"], pv["inferred_freq"]) == (5, 1, "1h")
    path.write_bytes(duplicates)
    pv = preview_file(path, freq="1h").to_dict()
    assert pv["duplicates"] == 1 and "--on-duplicate" in pv["problem"]
    assert len(pv["first_rows"]) == 5  # the parsed rows are still shown beside the problem


# -- the exports of issue 23: newest first with rows out of place, Yahoo's partial live bars ----------

def _out_of_place(rows: list[str], picks: tuple[int, ...]) -> list[str]:
    """Newest-first rows with the rows at ``picks`` moved to the end of the file (each one out of place)."""
    moved = [rows[i] for i in picks]
    return [r for i, r in enumerate(rows) if i not in picks] + moved


coinbase_hourly = lines("Timestamps are UTC timezone,https://www.CryptoDataDownload.com",
                        "Date,Symbol,Open,High,Low,Close,Volume BTC,Volume USD",
                        *_out_of_place([f"{(dt(2019, 10, 15) + i * H).strftime('%Y-%m-%d %I-%p')},BTCUSD,"
                                        f"{100 + i},{102 + i},{99 + i},{101 + i},{2 + i},{200 + i}" for i in range(47, -1, -1)],
                                       (10, 20, 30)))

bitfinex_hourly = lines("https://www.CryptoDataDownload.com",
                        "unix,date,symbol,open,high,low,close,Volume BTC,Volume USD",
                        *_out_of_place([f"{EPOCH_MS(dt(2024, 1, 1) + i * H)},{ISO(dt(2024, 1, 1) + i * H)},BTC/USD,"
                                        f"{100 + i},{102 + i},{99 + i},{101 + i},{3 + i},{300 + i}" for i in range(59, -1, -1)],
                                       (5, 6, 7, 8, 40)))

_PARTIAL = [dt(2024, 5, 1, 13, 46, 2), dt(2024, 5, 2, 6, 1, 3), dt(2024, 5, 3, 13, 50, 2)]
yfinance_15m = lines("Datetime,Open,High,Low,Close,Adj Close,Volume", *sorted(
    [f"{t:%Y-%m-%d %H:%M:%S}+00:00,{100 + i},{102 + i},{99 + i},{101 + i},{101 + i},{5 + i}"
     for i, t in enumerate(dt(2024, 5, 1) + k * 15 * M for k in range(3 * 96))]
    + [f"{t:%Y-%m-%d %H:%M:%S}+00:00,150,151,149,150.5,150.5,0" for t in _PARTIAL]))


def test_cryptodatadownload_coinbase_and_bitfinex_import_with_no_flag(lake_env, tmp_path):
    for name, data, n, moved, sym in (("Coinbase_BTCUSD_1h.csv", coinbase_hourly, 48, 3, "CB"),
                                      ("Bitfinex_BTCUSD_1h.csv", bitfinex_hourly, 60, 5, "BFX")):
        path = tmp_path / name
        path.write_bytes(data)
        pv = preview_file(path)
        assert pv.guess == {"asset_class": "crypto", "symbol": "BTC", "freq": "1h",
                            "why": f"guessed from the file name {name}"}
        assert pv.order == f"newest first (turned round); {moved} rows out of place moved into time order"
        res = import_file(path, "crypto", sym, "1h")
        assert res["rows_written"] == n and res["rows_moved"] == moved and res["warnings"] == []
        out = read_bars(Selection("crypto", sym, "1h"), root=lake_env.root)
        assert out["ts"].is_sorted() and out["ts"].diff().drop_nulls().dt.total_seconds().unique().to_list() == [3600]
        assert out["open"].to_list() == [100.0 + i for i in range(n)]


def test_a_sorted_descending_file_is_called_so():
    import polars as pl

    from synthwb.data.ordering import order_text, time_order

    ts = pl.Series([dt(2024, 1, 1) + i * H for i in range(20000)][::-1])
    assert order_text(*time_order(ts)) == "newest first (turned round)"


def test_yfinance_partial_live_bars_are_named_and_dropped_on_request(lake_env, tmp_path):
    path = tmp_path / "BTC-USD_15m.csv"
    path.write_bytes(yfinance_15m)
    with pytest.raises(DataError) as exc:
        import_file(path, "crypto", "BTC", "15min")
    msg = str(exc.value)
    for t in _PARTIAL:
        assert f"{t:%Y-%m-%d %H:%M:%S}" in msg
    assert "off the 15min grid" in msg and "--drop-off-grid" in msg
    assert not list(lake_env.root.rglob("*.parquet"))
    res = import_file(path, "crypto", "BTC", "15min", drop_off_grid=True)
    assert res["rows_written"] == 3 * 96
    assert res["dropped_off_grid"] == [f"row {r} ({t:%Y-%m-%d %H:%M:%S})" for r, t in zip((57, 123, 251), _PARTIAL)]
    assert res["warnings"] == ["dropped 3 rows off the 15min grid: " + ", ".join(res["dropped_off_grid"])]
    out = read_bars(Selection("crypto", "BTC", "15min"), root=lake_env.root)
    assert out.height == 288 and (out["ts"].dt.minute() % 15 == 0).all() and (out["ts"].dt.second() == 0).all()
