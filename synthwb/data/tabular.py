"""Reading a user's file as a table of text columns, whatever its shape.

- Parquet (by magic bytes or suffix) is read as it is, typed;
- gzip and zip (one CSV inside) are opened transparently; a UTF-8/UTF-16 BOM is honoured,
  other bytes fall back to Windows-1252;
- the delimiter (comma, semicolon, tab, pipe) is found by counting fields with the csv module
  over a sample; a semicolon or tab file whose numbers use a decimal comma is noticed;
- comment, URL and preamble lines before the header are skipped (the header is the first line
  with as many fields as the data rows); a file without a header gets ``column_1...`` names;
- a data row with a different number of fields is refused with its line number.

Cells stay text (``infer_schema=False``): the importer parses numbers and times itself, so a
decimal comma or a ``09-AM`` clock never reaches polars' type inference.
"""
from __future__ import annotations

import csv
import gzip
import io
import os
import re
import zipfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl

from synthwb.core.errors import DataError

DELIMITERS = ("\t", ";", "|", ",")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
SAMPLE_LINES = 200
NUMBER = re.compile(r"^[\s$€£]*[-+]?(\d+([.,]\d*)?|\d{1,3}([,.' ]\d{3})+([.,]\d*)?)\s*[KMBkmb%]?\s*$")
DECIMAL_COMMA = re.compile(r"^-?\d+,\d+$")
#: the most bytes a file (after gzip/zip) may hold: a small archive that inflates to gigabytes
#: (a decompression bomb) is refused while it is read, not after it filled the memory
MAX_TABLE_BYTES = 2 << 30
MAX_LINE_CHARS = 100_000  # below the csv module's field limit (131,072): a bar's row is < 200
MAX_COLUMNS = 1_000


def _too_big(name: str) -> DataError:
    return DataError(f"{name} holds more than {MAX_TABLE_BYTES >> 20} MiB of data (after decompression); "
                     "split it into smaller files (e.g. one per year) and import them one by one")


@dataclass
class Shape:
    """How the file was read (shown in the import preview)."""

    format: str = "csv"
    compression: str | None = None
    member: str | None = None
    encoding: str = "utf-8"
    delimiter: str | None = None
    decimal_comma: bool = False
    header: bool = True
    skipped_lines: list[str] = field(default_factory=list)
    header_line: int = 1

    def to_dict(self) -> dict:
        d = asdict(self)
        d["delimiter"] = DELIMITER_NAMES.get(self.delimiter or "", self.delimiter)
        return d


def read_bytes(path: str | os.PathLike) -> tuple[bytes, Shape]:
    p = Path(path)
    if not p.exists():
        raise DataError(f"file not found: {p}")
    if not p.is_file():
        raise DataError(f"not a file: {p}")
    if p.stat().st_size == 0:
        raise DataError(f"the file {p.name} is empty")
    if p.stat().st_size > MAX_TABLE_BYTES:
        raise _too_big(p.name)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot open {p.name}: {exc}") from None
    shape = Shape()
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:  # read in one go, but never past the cap
                data = gz.read(MAX_TABLE_BYTES + 1)
        except (OSError, EOFError) as exc:
            raise DataError(f"cannot read {p.name} as gzip: {exc}") from None
        if len(data) > MAX_TABLE_BYTES:
            raise _too_big(p.name)
        shape.compression = "gzip"
    elif data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                names = [n for n in z.namelist() if not n.endswith("/") and not n.startswith("__MACOSX")
                         and not Path(n).name.startswith(".")]
                tables = [n for n in names if n.lower().endswith((".csv", ".txt", ".tsv", ".parquet", ".pq"))] or names
                if len(tables) != 1:
                    raise DataError(f"{p.name} holds {len(tables)} files ({', '.join(tables[:6]) or 'none'}); "
                                    "zip exactly one CSV file, or unzip it and import the one you mean")
                if z.getinfo(tables[0]).file_size > MAX_TABLE_BYTES:
                    raise _too_big(f"{p.name} ({tables[0]})")
                with z.open(tables[0]) as fh:  # the header's size may lie: the cap holds while reading
                    data = fh.read(MAX_TABLE_BYTES + 1)
                if len(data) > MAX_TABLE_BYTES:
                    raise _too_big(f"{p.name} ({tables[0]})")
                shape.member = tables[0]
        except zipfile.BadZipFile as exc:
            raise DataError(f"cannot read {p.name} as zip: {exc}") from None
        shape.compression = "zip"
    if not data.strip():
        raise DataError(f"the file {p.name} is empty")
    return data, shape


def _decode(data: bytes, shape: Shape) -> str:
    if data[:3] == b"\xef\xbb\xbf":
        shape.encoding = "utf-8 (BOM)"
        return data[3:].decode("utf-8", errors="replace")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        shape.encoding = "utf-16"
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        shape.encoding = "windows-1252"
        return data.decode("cp1252", errors="replace")


def _fields(line: str, delim: str) -> list[str]:
    return next(csv.reader([line], delimiter=delim), [])


def _sniff(lines: list[str]) -> tuple[str, int]:
    """(delimiter, fields per row): the first of tab, semicolon, pipe, comma that splits most
    of the sample's last lines into the same number (>= 4) of fields."""
    tail = [ln for ln in lines[len(lines) // 3:] if ln.strip()] or [ln for ln in lines if ln.strip()]
    for delim in DELIMITERS:
        counts = Counter(len(_fields(ln, delim)) for ln in tail)
        n, hits = counts.most_common(1)[0]
        if n >= 4 and hits >= 0.8 * len(tail):
            return delim, n
    raise DataError("cannot find the columns: no comma, semicolon, tab or pipe splits the rows into the same "
                    "number of fields (at least 4: time, open, high, low, close)")


def _is_number(cell: str) -> bool:
    return bool(NUMBER.match(cell)) and any(ch.isdigit() for ch in cell)


def read_text_table(text: str, name: str, shape: Shape) -> pl.DataFrame:
    lines = text.splitlines()
    longest = max(range(len(lines)), key=lambda i: len(lines[i]), default=0)
    if lines and len(lines[longest]) > MAX_LINE_CHARS:
        raise DataError(f"line {longest + 1} of {name} is {len(lines[longest]):,} characters long, more than the "
                        f"{MAX_LINE_CHARS:,} a row of candles may take; this is not a table of OHLCV bars "
                        "(or its line ends are missing)")
    sample = lines[:SAMPLE_LINES]
    delim, width = _sniff(sample)
    if width > MAX_COLUMNS:
        raise DataError(f"{name} has {width:,} columns (split by {DELIMITER_NAMES[delim]}), more than the "
                        f"{MAX_COLUMNS:,} a table of candles may have; keep the time and OHLCV columns")
    shape.delimiter = delim
    start = None
    for i, ln in enumerate(sample):
        s = ln.strip()
        if not s or s.startswith(("#", "//")):
            continue
        if len(_fields(ln, delim)) == width:
            start = i
            break
    if start is None:
        raise DataError(f"cannot find the header row of {name}")
    shape.skipped_lines = [ln for ln in lines[:start] if ln.strip()][:10]
    shape.header_line = start + 1
    head = [c.strip().strip("\ufeff") for c in _fields(lines[start], delim)]
    numeric = sum(_is_number(c) for c in head)
    shape.header = numeric < 3
    if shape.header:
        names = [c or f"column_{j + 1}" for j, c in enumerate(head)]
        seen: Counter = Counter()
        for j, c in enumerate(names):  # duplicate header names get a suffix, as pandas does
            seen[c] += 1
            if seen[c] > 1:
                names[j] = f"{c}_{seen[c] - 1}"
        first_data = start + 1
    else:
        names = [f"column_{j + 1}" for j in range(width)]
        first_data = start
    body = lines[first_data:]
    for j, ln in enumerate(body):
        if not ln.strip():
            continue
        k = len(_fields(ln, delim))
        if k != width:
            raise DataError(
                f"line {first_data + j + 1} of {name} has {k} field{'s' if k != 1 else ''} but the "
                f"{'header' if shape.header else 'first row'} has {width} (split by {DELIMITER_NAMES[delim]}): "
                f"{ln[:80]!r}; fix or delete that line"
            )
    if not any(ln.strip() for ln in body):
        raise DataError(f"the file {name} has a header but no rows")
    try:
        df = pl.read_csv(io.BytesIO("\n".join(body).encode()), has_header=False, new_columns=names,
                         separator=delim, infer_schema=False, quote_char='"')
    except pl.exceptions.PolarsError:
        # polars reads quotes more strictly than the csv module that counted the fields above
        # (a stray quote inside a cell): take the cells as the csv module splits them, so the
        # checks that follow name the bad cell instead of polars' parser advice
        rows = [_fields(ln, delim) for ln in body if ln.strip()]
        df = pl.DataFrame([pl.Series(n, col, dtype=pl.String) for n, col in zip(names, zip(*rows), strict=True)])
        df = df.with_columns(pl.when(pl.col(n) != "").then(pl.col(n)).alias(n) for n in names)  # empty = missing
    if delim != ",":
        cells = [c for col in df.columns for c in df[col].head(50).drop_nulls().to_list()]
        shape.decimal_comma = any(DECIMAL_COMMA.match(c.strip()) for c in cells)
    return df


def read_table(path: str | os.PathLike) -> tuple[pl.DataFrame, Shape]:
    """The file as a table (CSV cells as text, Parquet typed) and how it was read."""
    p = Path(path)
    data, shape = read_bytes(p)
    name = p.name + (f" ({shape.member})" if shape.member else "")
    if data[:4] == b"PAR1" or (shape.member or p.name).lower().endswith((".parquet", ".pq")):
        shape.format, shape.delimiter = "parquet", None
        try:
            return pl.read_parquet(io.BytesIO(data)), shape
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise DataError(f"cannot read {name} as Parquet: {' '.join(str(exc).split())[:200]}") from None
    if b"\x00" in data[:4096] and data[:2] not in (b"\xff\xfe", b"\xfe\xff"):
        raise DataError(f"cannot read {name} as CSV: it is a binary file (CSV, gzip/zip CSV or Parquet expected)")
    return read_text_table(_decode(data, shape), name, shape), shape
