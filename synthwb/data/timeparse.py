"""Reading a column of timestamps the way real exports write them, to Datetime(us, UTC).

- numbers (or digits stored as text): epoch s / ms / us / ns from the magnitude, or compact
  ``YYYYMMDD[HHMM[SS]]`` digits;
- text: the format is inferred from the values (ISO 8601, day-first or month-first with dots,
  dashes or slashes, 2- or 4-digit years, month names, 24-hour or 12-hour clocks with AM/PM and
  odd separators such as ``09-AM``, fractional seconds); ``fmt`` (``--ts-format``) fixes one;
- an explicit UTC offset on a row (``+01:00``, ``-0500``, ``Z``, ``UTC``) converts that row to
  UTC, whatever the other rows carry; naive times are read in ``tz`` (default UTC), with the
  repeated hour of a daylight-saving change resolved by order of appearance;
- a day/month order the values cannot settle (every day <= 12) is refused with both readings.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from synthwb.core.errors import DataError
from synthwb.data.validate import rows_text

TS_DTYPE = pl.Datetime("us", "UTC")
NAIVE = pl.Datetime("us")
_NUMBER = r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$"
#: epoch values past this many microseconds from 1970 (about the year 2262, where 64-bit
#: nanoseconds end) are not timestamps in any unit
MAX_EPOCH_US = 9.2e15

DATE_FORMATS = (
    "%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d",
    "%d.%m.%Y", "%d/%m/%Y", "%d-%m-%Y", "%m/%d/%Y", "%m-%d-%Y", "%m.%d.%Y",
    "%d.%m.%y", "%d/%m/%y", "%d-%m-%y", "%m/%d/%y", "%m-%d-%y", "%m.%d.%y", "%y-%m-%d",
    "%d-%b-%Y", "%d %b %Y", "%b %d, %Y", "%b %d %Y", "%d-%b-%y", "%d %B %Y", "%B %d, %Y", "%Y-%b-%d",
)
TIME_FORMATS = ("", " %H:%M:%S%.f", " %H:%M", " %I:%M:%S%.f %p", " %I:%M %p", " %H%M%S", " %H%M")
# an explicit offset after a clock time: Z, UTC, GMT, +01:00, -0500, +01, UTC+1, GMT-05:00
_OFFSET = (r"^(.*\d:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s*(?i:[ap]m))?)\s*"
           r"(Z|UTC|GMT|(?:UTC|GMT)?[+-]\d{1,2}(?::?\d{2})?)$")


def check_zone(tz: str | None) -> str | None:
    """The zone of naive timestamps, checked: None/''/'UTC' mean UTC; an unknown name is refused."""
    if tz is None or not str(tz).strip():
        return None
    tz = str(tz).strip()
    if tz.upper() in ("UTC", "Z", "GMT"):
        return "UTC"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise DataError(f"unknown time zone {tz!r} (--tz); use an IANA name such as UTC, Europe/London "
                        "or America/New_York") from None
    return tz


def parse_timestamps(s: pl.Series, tz: str | None = None, fmt: str | None = None,
                     name: str = "ts") -> tuple[pl.Series, dict]:
    """``(Datetime(us, UTC) series named ts, info)``; info says how it was read: ``kind``
    (epoch/text/datetime), ``format`` or ``unit``, and ``zone`` (a sentence)."""
    tz = check_zone(tz)
    if isinstance(s.dtype, pl.Datetime):
        if s.dtype.time_zone is None:
            out, zone = localise(s.dt.cast_time_unit("us"), tz, name)
        else:
            out, zone = s, f"zone-aware ({s.dtype.time_zone}), converted to UTC"
        return _utc(out), {"kind": "datetime", "zone": zone}
    if s.dtype == pl.Date:
        out, zone = localise(s.cast(NAIVE), tz, name)
        return _utc(out), {"kind": "date", "zone": zone}
    if s.dtype.is_numeric():
        return _epoch(s, name)
    if s.dtype != pl.String:
        raise DataError(f"cannot read column {name} ({s.dtype}) as timestamps")

    txt = s.str.strip_chars()
    empty = (txt.is_null() | (txt == "")).arg_true().to_list()
    if empty:
        raise DataError(f"missing timestamp ({name}) in {rows_text(empty)}; fill or drop those rows")
    if fmt:
        return _with_format(s, txt, fmt, tz, name)
    numeric = txt.str.contains(_NUMBER)
    if numeric.all():
        digits = txt.str.len_chars().unique().to_list()
        compact = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}
        if len(digits) == 1 and digits[0] in compact:
            p = txt.str.strptime(NAIVE, compact[digits[0]], strict=False, exact=True)
            if p.null_count() == 0 and p.dt.year().min() >= 1900:
                out, zone = localise(p, tz, name)
                return _utc(out), {"kind": "text", "format": compact[digits[0]], "zone": zone}
        num = txt.cast(pl.Int64, strict=False)
        return _epoch(num if num.null_count() == 0 else txt.cast(pl.Float64), name)
    if numeric.sum() * 2 > numeric.len():  # mostly epoch numbers: name the rows that are not
        bad = (~numeric).arg_true().to_list()
        good = numeric.arg_true()[0]
        _, info = _epoch(txt.gather([good]).cast(pl.Float64), name)
        raise DataError(f"{rows_text(bad)} of {name} {'is' if len(bad) == 1 else 'are'} not an epoch number like the other rows "
                        f"(read as {info['format']}, e.g. {s[good]!r}): {s[bad[0]]!r}; fix or drop those rows")

    txt = _normalise_text(txt)
    parts = txt.str.extract_groups(_OFFSET)
    off_raw = parts.struct.field("2")
    has_off = off_raw.is_not_null()
    if has_off.any() and not has_off.all():
        raise DataError(
            f"mixed time zones in {name}: {rows_text(has_off.arg_true().to_list())} carry a UTC offset but "
            f"{rows_text((~has_off).arg_true().to_list())} do not; give every row an offset, or none and pass --tz"
        )
    if has_off.all():
        naive_txt = parts.struct.field("1")
        offsets = _offset_minutes(off_raw)
    else:
        naive_txt, offsets = txt, None
    parsed, used = infer_format(naive_txt, name, original=s)
    info = {"kind": "text", "format": used}
    if offsets is not None:
        out = (parsed - pl.select(pl.duration(minutes=offsets)).to_series()).dt.replace_time_zone("UTC")
        shown = sorted({_fmt_offset(int(m)) for m in offsets.unique().to_list()})
        info["zone"] = f"explicit UTC offsets ({', '.join(shown)}), each row converted to UTC"
        info["offsets"] = shown
        return _utc(out), info
    out, info["zone"] = localise(parsed, tz, name)
    return _utc(out), info


def _utc(s: pl.Series) -> pl.Series:
    return s.dt.convert_time_zone("UTC").dt.cast_time_unit("us").alias("ts")


def _fmt_offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _normalise_text(txt: pl.Series) -> pl.Series:
    """ISO 'T' to a space, a.m./p.m. to AM/PM, an hour-only 12-hour clock (``09-AM``, ``9 pm``)
    to ``09:00 AM``, runs of spaces to one."""
    t = txt.str.replace(r"(\d)[Tt](\d)", "$1 $2")
    t = t.str.replace(r"(?i)\s*([ap])\.?\s*m\.?$", " ${1}m")
    t = t.str.replace(r"(?i)(^|[^\d:])(\d{1,2})[\s\-.]*([ap]m)$", "${1}${2}:00 $3")
    return t.str.replace_all(r"\s+", " ")


def _offset_minutes(off: pl.Series) -> pl.Series:
    o = off.str.replace(r"^(UTC|GMT|Z)$", "+00:00").str.replace(r"^(UTC|GMT)", "")
    g = o.str.extract_groups(r"^([+-])(\d{1,2}):?(\d{2})?$")
    sign = pl.when(g.struct.field("1") == "-").then(-1).otherwise(1)
    return pl.select(sign * (g.struct.field("2").cast(pl.Int64) * 60
                             + g.struct.field("3").cast(pl.Int64).fill_null(0))).to_series()


def _epoch(s: pl.Series, name: str) -> tuple[pl.Series, dict]:
    f = s.cast(pl.Float64)
    bad = (f.is_null() | f.is_nan()).arg_true().to_list()
    if bad:
        raise DataError(f"missing timestamp ({name}) in {rows_text(bad)}; fill or drop those rows")
    a = f.abs()
    units = pl.select(pl.when(a < 1e11).then(pl.lit("s")).when(a < 1e14).then(pl.lit("ms"))
                      .when(a < 1e17).then(pl.lit("us")).otherwise(pl.lit("ns"))).to_series()
    uniq = units.unique().to_list()
    if len(uniq) > 1:  # name the rows that break the unit most rows use, never the other way round
        major = units.value_counts(sort=True)[units.name][0]
        bad = (units != major).arg_true().to_list()
        raise DataError(f"mixed epoch units in {name}: most rows are epoch {major} but {rows_text(bad)} "
                        f"{'is' if len(bad) == 1 else 'are'} not (e.g. {s[bad[0]]!r}); fix or drop those rows, or "
                        "use one unit for the whole column")
    unit = uniq[0]
    scale = {"s": 1e6, "ms": 1e3, "us": 1.0, "ns": 1e-3}[unit]
    wild = ((f * scale).abs() > MAX_EPOCH_US).arg_true().to_list()
    if wild:
        raise DataError(f"{rows_text(wild)} of {name} hold {s[wild[0]]!r}, out of range for an epoch timestamp "
                        "(seconds, ms, us or ns since 1970 read as years up to 2262); fix those rows or map "
                        "another column with --map ts=COLUMN")
    if s.dtype.is_integer():
        i = s.cast(pl.Int64)
        us = {"s": i * 1_000_000, "ms": i * 1_000, "us": i, "ns": i // 1_000}[unit]
    else:
        us = (f * {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 0.001}[unit]).round(0).cast(pl.Int64)
    return us.cast(TS_DTYPE).alias("ts"), {"kind": "epoch", "unit": unit, "zone": "epoch (UTC)",
                                           "format": f"epoch {unit}"}


def _try(txt: pl.Series, fmt: str) -> pl.Series:
    p = txt.str.strptime(NAIVE, fmt, strict=False, exact=True)
    if p.null_count() < p.len() and p.dt.year().min() < 1900:  # "%Y" happily reads '24' as year 24
        return pl.Series([None] * p.len(), dtype=NAIVE)
    return p


def _read_date_family(txt: pl.Series, date_fmt: str) -> tuple[pl.Series, str]:
    """Rows read with one date format and any of the clock formats (so '2024-01-02' beside
    '2024-01-02 01:00', or clocks with and without seconds, mix); the label is the clock format
    most rows use."""
    out, used = None, []
    for t in TIME_FORMATS:
        p = _try(txt, date_fmt + t)
        hits = p.is_not_null().sum()
        if not hits:
            continue
        used.append((hits, date_fmt + t))
        out = p if out is None else out.fill_null(p)
        if out.null_count() == 0:
            break
    if out is None:
        return pl.Series([None] * txt.len(), dtype=NAIVE), date_fmt
    return out, max(used)[1]


def _swap_day_month(fmt: str) -> str:
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def _plausible(p: pl.Series) -> bool:
    """A reading that runs one way in time with no bar more than a week from the last (the
    wrong day/month order jumps by months)."""
    if p.len() < 2:
        return False
    d = p.diff().drop_nulls().dt.total_seconds()
    monotonic = bool((d >= 0).all() or (d <= 0).all())
    return monotonic and float(d.abs().max()) <= 7 * 86400


def infer_format(txt: pl.Series, name: str, original: pl.Series | None = None) -> tuple[pl.Series, str]:
    """Parse naive text with the first date format that reads every row; a day/month order
    the values leave open is settled by the reading that runs in order without jumps of more
    than a week, and refused with both readings when neither or both do."""
    original = txt if original is None else original
    n = txt.len()
    probe = pl.concat([txt.head(50), txt.tail(50)]) if n > 100 else txt
    fits = [d for d in DATE_FORMATS if _read_date_family(probe, d)[0].null_count() == 0]
    for d in fits:
        full, fmt = _read_date_family(txt, d)
        if full.null_count():
            continue
        other = _swap_day_month(d)
        if other != d and other in fits:
            alt, alt_fmt = _read_date_family(txt, other)
            if alt.null_count() == 0 and not alt.equals(full):
                ok, ok_alt = _plausible(full), _plausible(alt)
                if ok_alt and not ok:
                    return alt, alt_fmt
                if ok == ok_alt:
                    i = (alt != full).arg_true()[0]
                    raise DataError(
                        f"ambiguous day/month order in {name}: {original[i]!r} (row {i + 1}) reads as "
                        f"{full[i]:%Y-%m-%d} with --ts-format '{fmt}' or as {alt[i]:%Y-%m-%d} with "
                        f"--ts-format '{alt_fmt}'; pass the one that is right"
                    )
        return full, fmt
    # nothing reads every row: name the rows the best format misses
    best, best_fmt = None, None
    for d in fits or DATE_FORMATS:
        p, f = _read_date_family(txt, d)
        if best is None or p.null_count() < best.null_count():
            best, best_fmt = p, f
    partial = best is not None and best.null_count() < n
    bad = best.is_null().arg_true().to_list() if partial else list(range(n))
    hint = f"the other rows read as '{best_fmt}'" if partial else "no known format reads them"
    years = (original.cast(pl.String).gather(bad[:1000]).str.extract(r"(?:^|\D)(\d{4})(?:\D|$)", 1)
             .cast(pl.Int64, strict=False))
    odd = [(i, y) for i, y in zip(bad, years.to_list()) if y is not None and not 1900 <= y <= 2261]
    if odd:  # a readable date in a year no market data has: say that, not "no known format"
        rows = [i for i, _ in odd]
        raise DataError(
            f"timestamps in {name} out of range: {rows_text(rows)} (e.g. {original[rows[0]]!r}) "
            f"{'is' if len(rows) == 1 else 'are'} dated in the year {odd[0][1]}; synthwb reads bars dated "
            "1900 to 2261. Fix those rows (a typo in the year?)"
        )
    raise DataError(
        f"cannot read timestamps in {name}: {rows_text(bad)} (e.g. {original[bad[0]]!r}); {hint}. Fix those rows "
        "or pass the format with --ts-format (e.g. '%d.%m.%Y %H:%M:%S')"
    )


def _with_format(s: pl.Series, txt: pl.Series, fmt: str, tz: str | None, name: str) -> tuple[pl.Series, dict]:
    aware = "%z" in fmt or "%:z" in fmt or "%#z" in fmt
    try:
        if aware:
            p = txt.str.to_datetime(fmt, time_unit="us", time_zone="UTC", strict=False, exact=True)
        else:
            p = txt.str.strptime(NAIVE, fmt, strict=False, exact=True)
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"invalid --ts-format {fmt!r}: {' '.join(str(exc).split())[:160]}") from None
    bad = p.is_null().arg_true().to_list()
    if bad:
        raise DataError(f"--ts-format {fmt!r} does not read {rows_text(bad)} of {name} (e.g. {s[bad[0]]!r}); "
                        "fix the format or those rows")
    info = {"kind": "text", "format": fmt}
    if aware:
        info["zone"] = "explicit UTC offsets (from --ts-format), each row converted to UTC"
        return _utc(p), info
    out, info["zone"] = localise(p, tz, name)
    return _utc(out), info


def localise(naive: pl.Series, tz: str | None, name: str) -> tuple[pl.Series, str]:
    """Read naive datetimes in ``tz`` (None = UTC). The repeated hour when clocks go back is
    resolved by order: its first appearance is the earlier instant (the later one in a
    newest-first file); a time skipped when clocks go forward is refused."""
    if not tz or tz == "UTC":
        return naive.dt.replace_time_zone("UTC"), "naive, read as UTC"
    df = naive.to_frame("t").with_row_index("_i")
    newest_first = naive.len() > 1 and naive[0] > naive[-1]
    first, later = ("latest", "earliest") if newest_first else ("earliest", "latest")
    seen = pl.col("_i").rank("ordinal").over("t") > 1
    out = df.select(
        pl.col("t").dt.replace_time_zone(tz, ambiguous=pl.when(seen).then(pl.lit(later)).otherwise(pl.lit(first)),
                                         non_existent="null")
    ).to_series()
    bad = (out.is_null() & naive.is_not_null()).arg_true().to_list()
    if bad:
        raise DataError(
            f"{rows_text(bad)} of {name} ({naive[bad[0]]:%Y-%m-%d %H:%M}) do not exist in {tz}: the clocks jumped "
            "forward then. Check --tz, or export the file in UTC or with UTC offsets"
        )
    return out, f"naive, read in {tz} (--tz)"


def future_problem(ts: pl.Series, now: datetime | None = None) -> str | None:
    """The problem with bars dated after now + 1 day (a wrong epoch unit or format, usually):
    no market has traded them yet, so the import refuses them."""
    limit = (now or datetime.now(UTC)) + timedelta(days=1)
    late = (ts > limit).arg_true().to_list()
    if not late:
        return None
    verb = "is" if len(late) == 1 else "are"
    return (f"{rows_text(late)} {verb} dated in the future, after {limit:%Y-%m-%d %H:%M} UTC (latest "
            f"{ts.max():%Y-%m-%d %H:%M}); check the timestamp unit, --ts-format or --tz, or drop those rows")
