"""``python -m synthwb data demo|import|hf|fetch|update|list|show`` (../shared/DESIGN.md §7)."""
from __future__ import annotations

import argparse

from synthwb.cli import Result, count_arg, table
from synthwb.core.text import comma_list


def add_commands(sub, common: argparse.ArgumentParser) -> None:
    data = sub.add_parser("data", help="the OHLCV lake: demo, import, hf, fetch, update, list, show")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    p = dsub.add_parser("demo", parents=[common], help="create the demo lake (seeded 1-minute bars)")
    p.add_argument("--years", type=float, default=2.0, help="length in years (fractions allowed; default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start", default="2023-01-01", help="first day (UTC), default 2023-01-01")
    p.add_argument("--symbols", default=None, help="comma-separated subset of BTC,ETH,SOL,SPY")
    p.set_defaults(func=_demo)

    p = dsub.add_parser("import", parents=[common], help="validate a CSV/Parquet file and write it into the lake")
    p.add_argument("file")
    p.add_argument("--asset-class", default=None,
                   help="crypto, fx, equity, etf or index (default: guessed from the file name, e.g. BTCUSDT-1m-2024-01.zip)")
    p.add_argument("--symbol", default=None, help="lake symbol (default: guessed from the file name)")
    p.add_argument("--freq", default=None,
                   help="1min, 5min, 15min, 1h, 4h or 1d (default: from the file name, else the bars' spacing)")
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
                   help="kept for old scripts: rows out of time order are always sorted (the result says how many "
                        "moved); duplicates follow --on-duplicate in file order")
    p.add_argument("--drop-off-grid", action="store_true",
                   help="drop bars off the --freq grid the others follow (e.g. a live, partial bar at 13:46:02), "
                        "naming each one")
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

    p = dsub.add_parser("fetch", parents=[common],
                        help="fetch 1-minute (or coarser) bars from the validator's feeds: Binance, Hyperliquid")
    p.add_argument("--source", default=None, choices=("binance", "hyperliquid"),
                   help="the feed (default: the one the validator reads each asset from)")
    p.add_argument("--asset", default=None, help="validator asset names, comma-separated, e.g. BTC,ETH or HYPE")
    p.add_argument("--competition", default=None,
                   help="every asset a competition of the validator scores, e.g. crypto-24h, comequ-24h")
    p.add_argument("--validator", default=None, help="validator version for --competition (default: the newest)")
    p.add_argument("--freq", default="1min", help="1min (default), 5min, 15min, 1h, 4h or 1d")
    p.add_argument("--since", default=None, help="first day (UTC), e.g. 2024-01-01 (default: 30 days ago)")
    p.add_argument("--until", default=None, help="end, exclusive (default: now, the last closed bar)")
    p.set_defaults(func=_fetch)

    p = dsub.add_parser("update", parents=[common], help="top every fetched series up to now (only what is missing)")
    p.add_argument("--asset", default=None, help="only these symbols, comma-separated (default: every fetched series)")
    p.add_argument("--until", default=None, help="end, exclusive (default: now)")
    p.set_defaults(func=_update)

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

    symbols = comma_list(args.symbols) or None
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
            "on_duplicate": args.on_duplicate, "sort": args.sort, "drop_off_grid": args.drop_off_grid}
    guessed = _guess_series(args, opts)
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
    notes = "".join(f"\nnote: {n}" for n in [*guessed, *res["preview"]["notes"]])
    if res["order"] != "oldest first":
        notes += f"\nnote: rows were {res['order']}"
    text = (f"imported {res['rows_written']} bars of {res['asset_class']}/{res['symbol']} {res['freq']} "
            f"({res['start']} to {res['end']}) into {res['partitions']} partition(s); "
            f"{res['rows_replaced']} stored rows replaced{notes}")
    return Result(res, text)


def _guess_series(args, opts: dict) -> list[str]:
    """Fill --asset-class / --symbol / --freq left out from the file name (then the bars' spacing
    for --freq); the notes say what was guessed. Refused naming the flag when nothing fits."""
    from pathlib import Path

    from synthwb.core.errors import SpecError
    from synthwb.data.filenames import guess_series

    if args.asset_class and args.symbol and args.freq:
        return []
    g = guess_series(Path(args.file).name) or {}
    notes = []
    for attr, key in (("asset_class", "asset_class"), ("symbol", "symbol"), ("freq", "freq")):
        if getattr(args, attr) is None and g.get(key):
            setattr(args, attr, g[key])
            notes.append(f"--{attr.replace('_', '-')} {g[key]} {g['why']}")
    if args.symbol is None:
        raise SpecError(f"cannot tell the symbol from the file name {Path(args.file).name!r}; pass --symbol "
                        "(and --asset-class, --freq)")
    if args.asset_class is None:
        raise SpecError(f"cannot tell the asset class of {Path(args.file).name!r}; pass --asset-class "
                        "crypto|fx|equity|etf|index")
    if args.freq is None:
        from synthwb.data.schema import FREQS
        from synthwb.data.sources import preview_file

        pv = preview_file(args.file, symbol=args.symbol, **{k: v for k, v in opts.items() if k != "drop_off_grid"})
        if pv.inferred_freq not in FREQS:
            raise SpecError(f"cannot tell the timeframe of {Path(args.file).name!r} (the bars are "
                            f"{pv.inferred_freq or '?'} apart); pass --freq {'|'.join(FREQS)}")
        args.freq = pv.inferred_freq
        notes.append(f"--freq {args.freq} inferred from the spacing of the bars")
    return notes


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


def _feed_result(res: dict, args, what: str) -> Result:
    import sys

    from synthwb.core.errors import DataError

    rows = [{"asset": r["asset"], "source": f"{r['source']} {r['feed_symbol']}", "freq": r["freq"],
             "bars_added": r["rows_added"], "partitions": r["partitions"], "skipped_complete": r["skipped"],
             "requests": r["requests"], "added_from": r["first_added"], "added_to": r["last_added"],
             "status": r["status"]} for r in res["series"]]
    notes = [f"note: {r['asset']}: {n}" for r in res["series"] for n in r["notes"]]
    text = "\n".join([table(rows) if rows else "nothing fetched", *notes,
                      f"{what}: {res['rows_added']:,} bars added into the lake at {_root(args)}"])
    if res["status"] == "interrupted":
        if not args.json:
            sys.stdout.write(text + "\n")
        raise KeyboardInterrupt
    if res["status"] == "failed":
        if not args.json:
            sys.stdout.write(text + "\n")
        raise DataError(f"{res['error']}")
    return Result(res, text)


def _root(args) -> str:
    from synthwb.core.config import data_dir

    return str(data_dir(args.root))


def _feed_progress(args):
    import sys

    if args.json or not sys.stderr.isatty():
        return None
    last = {"msg": None}

    def show(fraction=None, metrics=None, message=None) -> None:
        if message and message != last["msg"]:
            last["msg"] = message
            pct = f"{fraction:4.0%} " if fraction is not None else ""
            sys.stderr.write(f"{pct}{message}\n")

    return show


def _fetch(args) -> Result:
    from datetime import UTC, datetime, timedelta

    from synthwb.cli.progress import run_stoppable
    from synthwb.core.errors import SpecError
    from synthwb.data.feeds.fetch import fetch

    assets = comma_list(args.asset)
    if args.competition:
        from synthwb.scoring.versions import get_validator

        rules = get_validator(args.validator)
        assets += list(rules.competition(args.competition).assets)
    elif args.validator:
        raise SpecError("--validator goes with --competition (the competition whose assets to fetch)")
    if not assets:
        raise SpecError("name what to fetch: --asset BTC,ETH or --competition crypto-24h")
    since = args.since or (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%d")
    res = run_stoppable(lambda stop: fetch(assets, source=args.source, freq=args.freq, since=since, until=args.until,
                                           root=args.root, progress=_feed_progress(args), stop_event=stop))
    return _feed_result(res, args, "fetched")


def _update(args) -> Result:
    from synthwb.cli.progress import run_stoppable
    from synthwb.data.feeds.fetch import update

    only = comma_list(args.asset) or None
    res = run_stoppable(lambda stop: update(root=args.root, until=args.until, only=only,
                                            progress=_feed_progress(args), stop_event=stop))
    return _feed_result(res, args, "updated")
