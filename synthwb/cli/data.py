"""``python -m synthwb data demo|import|list|show`` (../shared/DESIGN.md §7)."""
from __future__ import annotations

import argparse

from synthwb.cli import Result, count_arg, table


def add_commands(sub, common: argparse.ArgumentParser) -> None:
    data = sub.add_parser("data", help="the OHLCV lake: demo, import, list, show")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    p = dsub.add_parser("demo", parents=[common], help="create the demo lake (seeded 1-minute bars)")
    p.add_argument("--years", type=float, default=2.0, help="length in years (fractions allowed; default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start", default="2023-01-01", help="first day (UTC), default 2023-01-01")
    p.add_argument("--symbols", default=None, help="comma-separated subset of BTC,ETH,SOL,SPY")
    p.set_defaults(func=_demo)

    p = dsub.add_parser("import", parents=[common], help="validate a CSV/Parquet file and write it into the lake")
    p.add_argument("file")
    _series_args(p)
    p.add_argument("--tz", default=None,
                   help="IANA zone of naive timestamps in the file (default UTC); rows with a UTC offset keep it")
    p.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                   help="take FIELD (ts, open, high, low, close, volume) from COLUMN; repeatable. "
                        "ts=DATE+TIME joins two columns, volume=none stores zero volume")
    p.add_argument("--ts-format", default=None,
                   help="strftime format of the timestamps, e.g. '%%d.%%m.%%Y %%H:%%M' (default: inferred)")
    p.add_argument("--on-duplicate", default="error", choices=("error", "first", "last", "mean"),
                   help="bars sharing a timestamp: refuse (default), keep the first / last, or average them")
    p.add_argument("--sort", action="store_true",
                   help="put rows in time order first (a vendor file with rows out of place); duplicates then "
                        "follow --on-duplicate")
    p.add_argument("--dry-run", action="store_true", help="print the preview (mapping, zone, rows, frequency) "
                                                            "and write nothing")
    p.set_defaults(func=_import)

    p = dsub.add_parser("hf", parents=[common],
                        help="import data/{ASSET}/{timeframe}.parquet of a Hugging Face dataset repo")
    p.add_argument("repo_id", help="dataset repo, e.g. owner/open-synth-training-data")
    p.add_argument("--asset", required=True, help="asset folder in the repo, e.g. BTC")
    p.add_argument("--timeframe", required=True, help="file name in the repo, e.g. 1m")
    p.add_argument("--asset-class", default="crypto")
    p.add_argument("--symbol", default=None, help="lake symbol (default: the asset)")
    p.add_argument("--freq", default=None, help="lake frequency (default: from the timeframe)")
    p.add_argument("--revision", default=None)
    p.add_argument("--cache-dir", default=None, help="hub cache dir (default: the hub's)")
    p.add_argument("--local-dir", default=None)
    p.set_defaults(func=_hf)

    p = dsub.add_parser("list", parents=[common], help="what the lake holds")
    p.set_defaults(func=_list)

    p = dsub.add_parser("show", parents=[common], help="print (or export) bars of one series")
    _series_args(p)
    p.add_argument("--start", default=None, help="first bar (inclusive), YYYY-MM-DD or ISO time, UTC")
    p.add_argument("--end", default=None, help="end (exclusive), YYYY-MM-DD or ISO time, UTC")
    p.add_argument("--resample", default=None, help="serve at this timeframe (resampled from --freq)")
    p.add_argument("--csv", default=None, help="write the bars to this CSV file")
    p.add_argument("--rows", type=count_arg, default=10, help="rows to print at each end (text output)")
    p.add_argument("--quality", action="store_true", help="add the data-quality report")
    p.set_defaults(func=_show)


def _series_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--asset-class", required=True, help="crypto, fx, equity, etf or index")
    p.add_argument("--symbol", required=True)
    p.add_argument("--freq", required=True, help="1min, 5min, 15min, 1h, 4h or 1d")


def _demo(args) -> Result:
    from synthwb.data.demo import generate_demo_lake

    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()] if args.symbols else None
    res = generate_demo_lake(root=args.root, years=args.years, seed=args.seed, start=args.start, symbols=symbols)
    text = (f"demo lake written to {res['root']} in {res['seconds']:.1f} s\n"
            + table(res["series"], ["asset_class", "symbol", "freq", "rows", "start", "end", "partitions"]))
    return Result(res, text)


def parse_map(items: list[str]) -> dict[str, str]:
    """``["ts=Date", "volume=VolumeTo"]`` -> ``{"ts": "Date", "volume": "VolumeTo"}``."""
    from synthwb.core.errors import SpecError

    out: dict[str, str] = {}
    for item in items:
        field, sep, column = item.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise SpecError(f"--map {item!r}: write FIELD=COLUMN, e.g. --map ts=Date --map volume=VolumeTo")
        out[field.strip().lower()] = column.strip()
    return out


def _import(args) -> Result:
    import sys

    from synthwb.core.errors import DataError
    from synthwb.data.sources import import_file, preview_file

    opts = {"tz": args.tz, "ts_format": args.ts_format, "mapping": parse_map(args.map),
            "on_duplicate": args.on_duplicate, "sort": args.sort}
    if args.dry_run:
        from synthwb.data.lake import check_symbol
        from synthwb.data.schema import check_asset_class, check_freq

        check_asset_class(args.asset_class)
        check_freq(args.freq)
        check_symbol(args.symbol)
        pv = preview_file(args.file, freq=args.freq, asset_class=args.asset_class, symbol=args.symbol, **opts)
        if pv.problem:
            if not args.json:
                sys.stdout.write(pv.text() + "\n")
            raise DataError(pv.problem)
        return Result({"dry_run": True, "preview": pv.to_dict()}, pv.text() + "\ndry run: nothing written")
    res = import_file(args.file, args.asset_class, args.symbol, args.freq, root=args.root, **opts)
    for w in res["warnings"]:
        sys.stderr.write(f"warning: {w}\n")
    notes = "".join(f"\nnote: {n}" for n in res["preview"]["notes"])
    text = (f"imported {res['rows_written']} bars of {res['asset_class']}/{res['symbol']} {res['freq']} "
            f"({res['start']} to {res['end']}) into {res['partitions']} partition(s); "
            f"{res['rows_replaced']} stored rows replaced{notes}")
    return Result(res, text)


def _hf(args) -> Result:
    from synthwb.data.sources import import_hf

    res = import_hf(args.repo_id, args.asset, args.timeframe, asset_class=args.asset_class, symbol=args.symbol,
                    freq=args.freq, root=args.root, revision=args.revision, cache_dir=args.cache_dir,
                    local_dir=args.local_dir)
    text = (f"imported {res['rows_written']} bars from {res['source']} as {res['asset_class']}/{res['symbol']} "
            f"{res['freq']}; {res['rows_replaced']} stored rows replaced")
    return Result(res, text)


def _list(args) -> Result:
    from synthwb.core.config import data_dir
    from synthwb.data.lake import inventory

    inv = inventory(args.root)
    rows = inv.to_dicts()
    text = table(rows) if rows else f"the lake at {data_dir(args.root)} is empty (try: python -m synthwb data demo)"
    return Result(rows, text)


def _show(args) -> Result:
    from synthwb.data.lake import read_bars
    from synthwb.data.schema import Selection

    freq = args.resample or args.freq
    from synthwb.data.schema import FREQ_SECONDS, check_freq

    check_freq(args.freq)
    check_freq(freq)
    if FREQ_SECONDS[freq] < FREQ_SECONDS[args.freq]:
        from synthwb.core.errors import SpecError

        raise SpecError(f"--resample {freq} is finer than --freq {args.freq}; choose a coarser timeframe")
    sel = Selection(args.asset_class, args.symbol, args.freq, args.start, args.end)
    if args.csv:
        from synthwb.core.io import check_writable

        check_writable(args.csv, "--csv", folder=False)
    df = read_bars(sel, root=args.root)
    if args.resample and args.resample != args.freq:
        from synthwb.data.resample import resample

        df = resample(df, args.resample, args.asset_class)
    data: dict = {"selection": {**sel.to_dict(), "freq": freq}, "rows": df.height,
                  "start": df["ts"].min() if df.height else None, "end": df["ts"].max() if df.height else None}
    files = []
    if args.csv:
        from synthwb.core.io import atomic_path

        with atomic_path(args.csv, suffix=".csv") as tmp:
            df.write_csv(tmp, datetime_format="%Y-%m-%dT%H:%M:%S%.fZ")
        data["csv"] = str(args.csv)
        files.append(str(args.csv))
    if args.quality:
        from synthwb.data.cleaning import quality_report

        rep = quality_report(df, freq, args.asset_class)
        rep.pop("coverage", None)
        data["quality"] = rep
    if not args.csv:
        data["bars"] = df.to_dicts() if args.json else None
    lines = [f"{sel.asset_class}/{sel.symbol} {freq}: {df.height} bars"
             + (f" from {data['start']} to {data['end']}" if df.height else "")]
    if df.height and not args.csv:
        k = max(1, args.rows)
        shown = df if df.height <= 2 * k else None
        if shown is not None:
            lines.append(table(shown.to_dicts()))
        else:
            lines.append(table(df.head(k).to_dicts()))
            lines.append(f"... {df.height - 2 * k} more ...")
            lines.append(table(df.tail(k).to_dicts()))
    if args.csv:
        lines.append(f"wrote {args.csv}")
    if args.quality:
        q = data["quality"]
        lines.append(f"quality: {q['missing']} of {q['expected']} expected bars missing ({q['missing_share']:.2%}), "
                     f"{q['gaps']['count']} gaps, {q['duplicates']} duplicates, "
                     f"{q['inconsistent_ohlc']} inconsistent OHLC rows, {q['non_positive']} non-positive rows")
    if not args.json:
        data.pop("bars", None)
    return Result(data, "\n".join(lines), files)
