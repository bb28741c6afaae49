"""``python -m synthwb``: the headless face of the engine (../shared/DESIGN.md §7).

Each area owns its commands in ``synthwb/<area>/cli.py`` with a function
``add_commands(sub, common)`` that adds argparse sub-parsers (built with
``parents=[common]``) and sets ``func`` to a handler. A handler takes the parsed args and
returns a :class:`Result`: JSON-able ``data`` (printed with ``--json``) and human ``text``.
Area cli modules import the engine lazily inside handlers so ``--help`` stays fast.

Exit status: 0 on success; 2 with a one-line ``error: ...`` on stderr for any user error
(:class:`synthwb.core.errors.SynthwbError`); 130 on Ctrl-C.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from synthwb.core.text import table  # noqa: F401  (the area modules print with it)

AREAS = (
    "synthwb.cli.data",
    "synthwb.cli.features",
    "synthwb.cli.models",
    "synthwb.cli.train",
    "synthwb.cli.fit",
    "synthwb.cli.backtest",
    "synthwb.cli.compare",
    "synthwb.cli.forecast",
    "synthwb.cli.runs",
    "synthwb.cli.moirai",
    "synthwb.cli.validators",
    "synthwb.cli.live",
    "synthwb.cli.serve",
)


@dataclass
class Result:
    data: Any = None
    text: str = ""
    files: list[str] = field(default_factory=list)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (../shared/DESIGN.md §7: a one-line reason on stderr)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def count_arg(text: str) -> int:
    """An argparse type: a whole number >= 0 (rows or lines to show)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{n} is negative; give 0 or more")
    return n


def task_arg(value: str | None):
    """``--task``: a preset name (24h, 1h) or a custom task JSON file, read here for every command."""
    if value and str(value).lower().endswith(".json"):
        from synthwb.core.io import read_json_file

        return read_json_file(value, "task file (or use a preset: 24h, 1h)")
    return value


def validator_arg(value: str) -> str:
    """``--validator``: a known Synth validator version, by name (an unknown one is refused with
    the known names)."""
    from synthwb.core.errors import SpecError
    from synthwb.scoring.versions import get_validator

    try:
        return get_validator(value).name
    except SpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_validator_arg(p: argparse.ArgumentParser, what: str = "scores") -> None:
    """Add ``--validator VERSION`` (default: the newest) to a command."""
    if "--validator" in p._option_string_actions:
        return
    p.add_argument("--validator", type=validator_arg, default=None, metavar="VERSION",
                   help=f"the Synth validator version whose rules it {what} with (default: the newest; "
                        "see `synthwb validators`)")


def add_classical_arg(p: argparse.ArgumentParser) -> None:
    """Add ``--classical`` (the classical references scored beside the baselines) to a command."""
    p.add_argument("--classical", action="append", default=None, metavar="MODEL[:DIST]",
                   help="classical forecasters scored beside the baselines, refitted from the bars before each "
                        "origin (repeat or comma-separate; default: every one of `synthwb models classical` with "
                        "Student-t innovations; MODEL:DIST for another law, e.g. gjr-garch:skewt; 'none' for none)")


def classical_value(values: list[str] | None) -> str:
    """``--classical`` as one comma-separated text (not given: ``"all"``, every registered model)."""
    return "all" if values is None else ",".join(values)


def common_parent() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--root", default=None, help="lake root (default: $SYNTHWB_DATA_DIR or ./data/ohlcv)")
    common.add_argument("--store", default=None, help="models store (default: $SYNTHWB_STORE_DIR or ./models_store)")
    common.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    common.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="show the libraries' own log lines (Optuna, Ray, torch, uni2ts, huggingface_hub)")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="synthwb", description="synthwb: probabilistic candle forecasting workbench")
    parser.add_argument("--verbose", action="store_true", default=False,
                        help="show the libraries' own log lines (Optuna, Ray, torch, uni2ts, huggingface_hub)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = common_parent()
    for name in AREAS:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # an area not built yet must not break the others
            if exc.name == name:
                continue
            raise
        mod.add_commands(sub, common)
    return parser


def _print(result: Result, as_json: bool) -> None:
    if as_json:
        json.dump(result.data, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    elif result.text:
        sys.stdout.write(result.text.rstrip("\n") + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    rc = _run(argv)
    _end_torchrun_worker(rc)
    return rc


def _end_torchrun_worker(rc: int) -> None:
    """A rank that trained under torchrun leaves here with ``os._exit`` once its output is
    flushed, skipping interpreter finalisation. gloo's worker threads outlive the process group
    (DDP's reducer keeps it) and the one that ran the last collective may still be releasing
    its tensors, which needs the GIL; taken while Python finalises, that aborts the process
    ("terminate called without an active exception", SIGABRT) after a finished run: 5 of 110
    two-step runs on a 2-core box. Nothing else runs at exit in such a process: the run's files
    are closed by the train loop before it returns."""
    distributed = sys.modules.get("synthwb.train.distributed")
    if distributed is None or not distributed.left_process_group():
        return
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(rc)


# commands whose libraries print to stdout (huggingface_hub's "Loading weights from local
# directory", Lightning's model summary): their stdout is the libraries' while the command runs
_LIBRARY_COMMANDS = frozenset({"train", "moirai", "search", "ablation", "backtest", "compare", "forecast",
                               "ensemble", "fit"})


@contextlib.contextmanager
def library_output(verbose: bool, capture_stdout: bool = False):
    """The libraries' own output while a command runs: without ``--verbose`` their log records
    (Optuna, Ray, Lightning, huggingface_hub: anything below CRITICAL) and Python warnings are
    dropped, their progress bars off, and with ``capture_stdout`` their prints to stdout (which
    would also break ``--json``) dropped; with ``--verbose`` all of it goes to stderr. The
    command's own result is printed afterwards, on the real stdout; its refusal is one line."""
    from synthwb.core.logs import set_verbose

    saved_disable = logging.root.manager.disable
    saved_env = {k: os.environ.get(k) for k in _QUIET_ENV}
    set_verbose(verbose)
    with contextlib.ExitStack() as stack:
        if not verbose:
            logging.disable(logging.ERROR)
            logging.captureWarnings(True)
            for k, v in _QUIET_ENV.items():
                os.environ.setdefault(k, v)
        if capture_stdout:
            sink = sys.stderr if verbose else stack.enter_context(open(os.devnull, "w"))  # noqa: SIM115
            stack.enter_context(contextlib.redirect_stdout(sink))
        try:
            yield
        finally:
            set_verbose(None)
            if not verbose:
                logging.disable(saved_disable)
                logging.captureWarnings(False)
                for k, v in saved_env.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v


_QUIET_ENV = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "RAY_AIR_NEW_OUTPUT": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}


def _run(argv: Sequence[str] | None) -> int:
    from synthwb.core.errors import SynthwbError

    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.parse_args([*(argv or sys.argv[1:]), "--help"])
        return 2
    try:
        with library_output(bool(getattr(args, "verbose", False)), args.command in _LIBRARY_COMMANDS):
            result = func(args)
    except SynthwbError as exc:
        msg = " ".join(str(exc).split())
        sys.stderr.write(f"error: {msg}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    _print(result if isinstance(result, Result) else Result(result, str(result or "")), getattr(args, "json", False))
    return 0


