"""The bad-input suite: every input a user can get wrong, refused cleanly by the real CLI.

Each case runs ``synthwb.cli.main(argv)`` in-process against one shared lake (a copy of the
demo lake) and one store (a saved feature set and a small trained run), and checks:

- exit status 2 (any exception escaping ``main`` fails the case: a traceback is a failure);
- one line on stderr, ``error: ...``, that matches the case's pattern (the problem and the fix),
  and, where a case says so, does not contain a misleading phrase;
- no "Traceback" anywhere in the output;
- the lake and the store byte-identical afterwards (every file hashed, every folder listed), so
  a refusal never leaves a run folder, a half-written file or a lock behind.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import torch
from train_support import CONTEXT, HORIZON, make_featureset, tiny_config

from synthwb.cli import main
from synthwb.moirai.checkpoints import make_tiny_checkpoint
from synthwb.train import train

NO_CUDA = not torch.cuda.is_available()


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    message: str  # regex the one error line must match (re.search)
    absent: str | None = None  # a phrase the message must not contain


def C(id: str, argv: str | list[str], message: str, absent: str | None = None) -> Case:
    return Case(id, tuple(argv.split() if isinstance(argv, str) else argv), message, absent)


LONG = "A" * 500
IMPORT = "data import {in}/%s --asset-class crypto --symbol NEW --freq %s"

CASES = [
    # ---------------------------------------------------------------- import
    C("import-missing-file", IMPORT % ("nope.csv", "1min"), r"nope\.csv"),
    C("import-semicolon-stray-quote", IMPORT % ("semi_quote.csv", "1min"),
      r"column open .* not numeric in row 5: '1\"5'", absent="truncate_ragged_lines"),
    C("import-semicolon-ragged", IMPORT % ("semi_ragged.csv", "1min"),
      r"line 9 of semi_ragged\.csv has 7 fields but the header has 6 \(split by semicolon\)"),
    C("import-unknown-tz", IMPORT % ("good_1min.csv", "1min") + " --tz Mars/Olympus",
      r"unknown time zone 'Mars/Olympus' \(--tz\); use an IANA name"),
    C("import-daily-as-1min", IMPORT % ("daily.csv", "1min"), r"inferred frequency 1d\) but --freq is 1min; use --freq 1d"),
    C("import-1h-as-5min", IMPORT % ("hourly.csv", "5min"), r"inferred frequency 1h\) but --freq is 5min; use --freq 1h"),
    C("import-5min-as-1h", IMPORT % ("five.csv", "1h"), r"finer than 1h .*use --freq 5min"),
    C("import-future-bars", IMPORT % ("future.csv", "1min"), r"dated in the future, after .*latest 2036"),
    C("import-epoch-1e30-float", IMPORT % ("epoch_1e30.csv", "1min"), r"out of range for an epoch timestamp"),
    C("import-epoch-1e30-int", IMPORT % ("epoch_int30.csv", "1min"), r"out of range for an epoch timestamp"),
    C("import-epoch-ms-broken-rows", IMPORT % ("epoch_ms_bad.csv", "1min"),
      r"rows 5, 8 of ts are not an epoch number like the other rows \(read as epoch ms", absent="cannot read"),
    C("import-epoch-ms-one-row-in-seconds", IMPORT % ("epoch_ms_one_s.csv", "1min"),
      r"mixed epoch units in ts: most rows are epoch ms but row 1 is not \(e\.g\. 1704067200\)"),
    C("import-off-grid-bar", IMPORT % ("offgrid.csv", "1h"), r"row 11 \(2024-01-01 10:30:00 UTC\) is off the 1h grid",
      absent="finer than"),
    C("import-every-problem", IMPORT % ("many_problems.csv", "1min"),
      r"2 problems: \(1\) .*dated in the future.*\(2\) negative volume in row 20"),
    C("import-two-bad-columns", IMPORT % ("two_bad_columns.csv", "1min"),
      r"2 problems: \(1\) column high .* row 10: 'x'.*\(2\) column volume .* row 12: 'lots'"),
    C("import-ambiguous-and-missing-columns", IMPORT % ("bid_ask_no_volume.csv", "1d"),
      r"2 problems: \(1\) two or more columns fit open: BidOpen, AskOpen; pick one with --map open=BidOpen.*"
      r"\(2\) missing column volume .*--map volume=none"),
    C("import-duplicates", IMPORT % ("dups.csv", "1min"), r"duplicate timestamps .*--on-duplicate first\|last\|mean"),
    C("import-high-below-low", IMPORT % ("high_low.csv", "1min"), r"high < low in row 4"),
    C("import-header-only", IMPORT % ("header_only.csv", "1min"), r"has a header but no rows"),
    C("import-binary", IMPORT % ("binary.csv", "1min"), r"binary file"),
    C("import-ts-format-mismatch", IMPORT % ("good_1min.csv", "1min") + " --ts-format %d.%m.%Y",
      r"--ts-format '%d\.%m\.%Y' does not read"),
    C("import-ambiguous-day-month", IMPORT % ("ambiguous.csv", "1d"), r"ambiguous day/month order"),
    C("import-mixed-offsets", IMPORT % ("mixed_offsets.csv", "1h"), r"mixed time zones"),
    C("import-bad-map-field", IMPORT % ("good_1min.csv", "1min") + " --map price=close", r"price"),
    C("import-no-such-column", IMPORT % ("good_1min.csv", "1min") + " --map close=Last", r"Last"),
    C("import-symbol-traversal", "data import {in}/good_1min.csv --asset-class crypto --symbol ../x --freq 1min",
      r"invalid symbol '\.\./x'"),
    C("import-symbol-500-chars", f"data import {{in}}/good_1min.csv --asset-class crypto --symbol {LONG} --freq 1min",
      r"invalid symbol 'A{40}\.\.\.'"),
    C("import-symbol-nul", ["data", "import", "{in}/good_1min.csv", "--asset-class", "crypto", "--symbol", "B\x00TC",
                            "--freq", "1min"], r"invalid symbol"),
    C("import-unknown-asset-class", "data import {in}/good_1min.csv --asset-class stocks --symbol X --freq 1min",
      r"unknown asset class 'stocks'; use one of crypto"),
    C("import-unknown-freq", "data import {in}/good_1min.csv --asset-class crypto --symbol X --freq 7min",
      r"unknown frequency '7min'; use one of 1min"),
    C("import-bad-on-duplicate", IMPORT % ("good_1min.csv", "1min") + " --on-duplicate maybe", r"invalid choice: 'maybe'"),
    C("import-hf-repo-traversal", "data hf ../../etc --asset BTC --timeframe 1m", r"invalid dataset repo '\.\./\.\./etc'"),
    C("import-hf-symbol", "data hf owner/repo --asset ../x --timeframe 1m", r"invalid symbol '\.\./x'"),
    C("import-hf-timeframe", "data hf owner/repo --asset BTC --timeframe 7m", r"cannot map timeframe '7m'"),
    C("import-root-uncreatable", IMPORT % ("good_1min.csv", "1min") + " --root /proc/nope",
      r"cannot write lake root \(--root / \$SYNTHWB_DATA_DIR\) '/proc/nope'"),
    C("import-root-is-a-file", IMPORT % ("good_1min.csv", "1min") + " --root {in}/good_1min.csv",
      r"lake root .* is a file, not a folder"),
    C("import-demo-root-uncreatable", "data demo --years 0.01 --root /proc/nope", r"cannot write lake root"),
    C("import-demo-years-zero", "data demo --years 0", r"years must be in \(0, 20\]"),
    C("import-demo-years-nan", "data demo --years nan", r"years must be in \(0, 20\], got nan"),
    # ---------------------------------------------------------------- lake reads
    C("show-symbol-500-chars", f"data show --asset-class crypto --symbol {LONG} --freq 1h", r"invalid symbol"),
    C("show-symbol-nul", ["data", "show", "--asset-class", "crypto", "--symbol", "BT\x00C", "--freq", "1h"],
      r"invalid symbol"),
    C("show-root-is-a-file", "data list --root {in}/good_1min.csv", r"lake root .* is a file, not a folder"),
    C("show-rows-negative", "data show --asset-class crypto --symbol BTC --freq 1h --rows -5",
      r"argument --rows: -5 is negative; give 0 or more"),
    C("show-unknown-symbol", "data show --asset-class crypto --symbol DOGE --freq 1h", r"no bars for crypto/DOGE"),
    C("show-resample-finer", "data show --asset-class crypto --symbol BTC --freq 1h --resample 5min",
      r"--resample 5min is finer than --freq 1h"),
    C("show-start-after-end", "data show --asset-class crypto --symbol BTC --freq 1h --start 2024-02-01 --end 2024-01-01",
      r"is not before end"),
    C("show-csv-uncreatable", "data show --asset-class crypto --symbol BTC --freq 1h --csv /proc/nope/x.csv",
      r"cannot write --csv '/proc/nope/x\.csv'"),
    C("show-csv-is-a-folder", "data show --asset-class crypto --symbol BTC --freq 1h --csv {in}", r"is a folder"),
    # ---------------------------------------------------------------- features
    C("features-unknown-symbol", "features build --name g --asset-class crypto --symbol DOGE --freq 1h", r"DOGE"),
    C("features-symbol-500-chars", f"features build --name g --asset-class crypto --symbol {LONG} --freq 1h",
      r"invalid symbol"),
    C("features-spec-is-a-list", "features build --name g --asset-class crypto --symbol BTC --freq 1h --spec {in}/list.json",
      r"feature spec file .* holds a JSON list \[\.\.\.\]; it must be a JSON object"),
    C("features-spec-unknown-feature",
      "features build --name g --asset-class crypto --symbol BTC --freq 1h --spec {in}/feature_unknown.json",
      r"no_such_feature"),
    C("features-export-uncreatable",
      "features build --name g --asset-class crypto --symbol BTC --freq 1h --export /proc/nope",
      r"cannot write --export '/proc/nope'"),
    C("features-bad-name", "features build --name ../g --asset-class crypto --symbol BTC --freq 1h", r"invalid"),
    C("features-train-fraction", "features build --name g --asset-class crypto --symbol BTC --freq 1h --train 1.5",
      r"train"),
    C("features-store-uncreatable", "features build --name g --asset-class crypto --symbol BTC --freq 1h --store /proc/nope",
      r"cannot write models store \(--store / \$SYNTHWB_STORE_DIR\) '/proc/nope'"),
    C("features-show-unknown", "features show nope", r"no feature set named 'nope'"),
    C("features-delete-unknown", "features delete nope", r"no feature set named 'nope'"),
    C("features-delete-traversal", "features delete ../x", r"invalid feature set name '\.\./x'"),
    # ---------------------------------------------------------------- model specs
    C("models-validate-list", "models validate {in}/list.json", r"holds a JSON list"),
    C("models-validate-missing", "models validate {in}/nope.json", r"does not exist"),
    C("models-preset-unknown", "models preset nope --n-features 3", r"nope"),
    C("models-preset-out-uncreatable", "models preset dlinear-gbm --n-features 3 --out /proc/nope/s.json",
      r"cannot write --out"),
    # ---------------------------------------------------------------- training
    C("train-config-list", "train --name x --features tiny --config {in}/list.json",
      r"training config .* holds a JSON list \[\.\.\.\]; it must be a JSON object"),
    C("train-config-string", "train --name x --features tiny --config {in}/string.json",
      r"training config .* holds a string; it must be a JSON object"),
    C("train-config-unknown-key", "train --name x --features tiny --config {in}/config_unknown.json", r"learning_rate"),
    C("train-lr-nan", "train --name x --features tiny --lr nan", r"lr: nan is not a number", absent="<= 10"),
    C("train-lr-inf", "train --name x --features tiny --lr inf", r"lr: inf is not a number"),
    C("train-lr-zero", "train --name x --features tiny --lr 0", r"lr: Input should be greater than 0"),
    C("train-epochs-zero", "train --name x --features tiny --epochs 0", r"epochs"),
    C("train-preset-unknown", "train --name x --features tiny --preset nope",
      r"no preset or saved model spec named 'nope'; presets: anchored-term, .*dlinear-gbm"),
    C("train-features-unknown", "train --name x --features nope --preset dlinear-gbm", r"no feature set named 'nope'"),
    C("train-features-missing", "train --name x --preset dlinear-gbm", r"--features is required"),
    C("train-context-impossible", "train --name x --features tiny --preset dlinear-gbm --context 100000 --loss crps",
      r"fewer than context 100000"),
    pytest.param(C("train-cuda-absent", "train --name x --features tiny --preset dlinear-gbm --device cuda",
                   r"device 'cuda' requested but CUDA is not available"),
                 marks=pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA")),
    C("train-task-file-missing", "train --name x --features tiny --task {in}/nope.json", r"does not exist"),
    C("train-task-file-list", "train --name x --features tiny --task {in}/list.json", r"holds a JSON list"),
    C("train-spec-file-list", "train --name x --features tiny --spec {in}/list.json", r"holds a JSON list"),
    C("train-name-unusable", ["train", "--name", "///", "--features", "tiny", "--preset", "dlinear-gbm", "--loss",
                              "crps", "--context", "32", "--horizon", "8"], r"invalid run name"),
    C("train-moirai-checkpoint-missing", "train --name m --features tiny --moirai /nonexistent",
      r"checkpoint '/nonexistent' is neither a folder"),
    C("train-moirai-not-a-checkpoint", "train --name m --features tiny --moirai {in}",
      r"is not a Moirai checkpoint folder"),
    C("moirai-forecast-features-unknown", "moirai forecast --checkpoint {in} --features nope", r"nope"),
    C("moirai-forecast-zero-paths", "moirai forecast --checkpoint {in}/tinyck --features tiny --paths 0",
      r"--paths must be 2\.\.20000, got 0"),
    C("moirai-forecast-patch-size", "moirai forecast --checkpoint {in}/tinyck --features tiny --patch-size 7",
      r"patch size 7 is not one of the model's patch sizes"),
    C("moirai-forecast-covariate-unknown", "moirai forecast --checkpoint {in}/tinyck --features tiny --covariates nope",
      r"unknown covariate\(s\) \['nope'\]"),
    C("moirai-train-lr-nan", "train --name m --features tiny --moirai {in}/tinyck --lr nan",
      r"invalid Moirai fine-tune config: lr: nan is not a number"),
    C("moirai-train-context-huge", "train --name m --features tiny --moirai {in}/tinyck --context 100000",
      r"context: Input should be less than or equal to"),
    pytest.param(C("moirai-train-cuda-absent", "train --name m --features tiny --moirai {in}/tinyck --device cuda",
                   r"device 'cuda' requested but CUDA is not available"),
                 marks=pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA")),
    C("train-pool-unknown", "train --name x --features tiny --preset dlinear-gbm --pool nope", r"nope"),
    C("train-pool-itself", "train --name x --features tiny --preset dlinear-gbm --pool tiny", r"own feature set"),
    C("moirai-train-pool", "train --name m --features tiny --moirai {in}/tinyck --pool tiny", r"drop --pool"),
    C("train-resume-unknown", "train --name nope --resume", r"no run 'nope'"),
    C("train-resume-traversal", "train --name ../etc --resume", r"invalid run id"),
    # ---------------------------------------------------------------- backtest
    C("backtest-csv-uncreatable", "backtest --run r1 --csv /proc/nope/x.csv", r"cannot write --csv '/proc/nope/x\.csv'"),
    C("backtest-csv-under-a-file", "backtest --run r1 --csv {in}/good_1min.csv/out", r"is a file, not a folder"),
    C("backtest-history-infinity", "backtest --spec {in}/history_inf.json",
      r"history_days: inf is not a number"),
    C("backtest-history-nan", "backtest --spec {in}/history_nan.json", r"history_days: nan is not a number"),
    C("backtest-spec-list", "backtest --spec {in}/list.json", r"backtest spec file .* holds a JSON list"),
    C("backtest-spec-selection-5", "backtest --spec {in}/selection_5.json", r"selection: Input should be a valid dictionary"),
    C("backtest-seed-huge", "backtest --run r1 --task 1h --seed 99999999999999999999999", r"seed: Input should be less"),
    C("backtest-start-unreadable", "backtest --run r1 --start 2024-13-45", r"cannot read '2024-13-45' as a date"),
    C("backtest-run-unknown", "backtest --run nope", r"no run 'nope'"),
    C("backtest-no-run-no-selection", "backtest", r"give --run RUN, or --asset-class/--symbol/--freq"),
    C("backtest-partial-selection", "backtest --asset-class crypto", r"give --asset-class, --symbol and --freq together"),
    C("backtest-origins-zero", "backtest --run r1 --origins 0", r"n_origins"),
    C("backtest-paths-one", "backtest --run r1 --n-paths 1", r"n_paths"),
    C("backtest-symbol-500-chars", f"backtest --asset-class crypto --symbol {LONG} --freq 1h", r"invalid symbol"),
    C("backtest-coarser-bars-than-the-run", "backtest --run r1 --asset-class crypto --symbol BTC --freq 1h --task 1h",
      r"'r1' reads 15min bars but the selection's timeframe is 1h, coarser; use --freq 15min"),
    C("backtest-grid-mismatch", "backtest --run r1 --task 24h", r"grid"),
    # ---------------------------------------------------------------- compare
    C("compare-run-unknown", "compare --runs nope", r"nope"),
    C("compare-csv-uncreatable", "compare --runs r1 --csv /proc/nope/x.csv", r"cannot write --csv"),
    C("compare-nothing", "compare", r"run|baseline"),
    C("compare-benchmark-unknown", "compare --baselines gbm,garch --asset-class crypto --symbol BTC --freq 1h "
                                   "--benchmark nope", r"nope"),
    C("compare-task-list", "compare --runs r1 --task {in}/list.json", r"holds a JSON list"),
    # ---------------------------------------------------------------- ensembles
    C("ensemble-weights-not-numbers", "ensemble --name e --members r1,baseline:gbm --weights a,b",
      r"ensemble weights must be numbers, got 'a'"),
    C("ensemble-weights-nan", "ensemble --name e --members r1,baseline:gbm --weights nan,1",
      r"ensemble weights must be finite and non-negative"),
    C("ensemble-weights-negative", "ensemble --name e --members r1,baseline:gbm --weights=-1,2",
      r"ensemble weights must be finite and non-negative"),
    C("ensemble-weights-count", "ensemble --name e --members r1,baseline:gbm --weights 1", r"got 1 weight\(s\) for 2"),
    C("ensemble-weights-zero", "ensemble --name e --members r1,baseline:gbm --weights 0,0", r"sum to zero"),
    C("ensemble-store-uncreatable", "ensemble --name e --members baseline:gbm,baseline:garch --store /proc/nope",
      r"cannot write models store"),
    C("ensemble-one-member", "ensemble --name e --members r1", r"at least two members"),
    C("ensemble-member-unknown", "ensemble --name e --members r1,nope", r"ensemble member 'nope' is not a run"),
    C("ensemble-baseline-unknown", "ensemble --name e --members r1,baseline:nope", r"nope"),
    C("ensemble-members-repeat", "ensemble --name e --members r1,r1", r"repeat"),
    # ---------------------------------------------------------------- search and ablation
    C("search-no-trial-can-train", "search --name s --features tiny --preset dlinear-gbm --horizon 8 "
                                   "--config {in}/crps.json --method grid --space spec.context=5000,6000 --max-steps 1",
      r"search dimension spec\.context=5000 cannot train: .*fewer than context 5000 \+ horizon 8"),
    C("search-task-beyond-horizon", "search --name s --features tiny --preset dlinear-gbm --horizon 8 "
                                    "--space config.lr=1e-3,1e-2 --max-steps 1",
      r"this search cannot train, whatever its dimensions: the 24h task scores 24 h ahead but the model's "
      r"horizon is 8 steps .*; fix the model or training settings$"),
    C("search-range-invalid", "search --name s --features tiny --preset dlinear-gbm --space config.lr=1e9,2e9",
      r"search dimension config\.lr=1000000000\.0 cannot train: invalid training config: lr: Input should be less than or equal to 10"),
    C("search-value-not-a-number", "search --name s --features tiny --preset dlinear-gbm --space config.lr=abc",
      r"search dimension config\.lr='abc' cannot train: invalid training config: lr: Input should be a valid number"),
    C("search-unknown-setting", "search --name s --features tiny --preset dlinear-gbm --space config.nope=1,2",
      r"search setting 'config\.nope': no key 'nope'"),
    C("search-per-dim-zero", "search --name s --features tiny --preset dlinear-gbm --space config.lr=1e-3:1e-2 "
                             "--method grid --per-dim 0", r"per_dim \(--per-dim\) must be at least 1"),
    C("search-seed-huge", "search --name s --features tiny --preset dlinear-gbm --space config.lr=1e-3:1e-2 "
                          "--seed 99999999999999999999", r"seed must be 0\.\."),
    C("search-space-path", "search --name s --features tiny --preset dlinear-gbm --space lr=1e-3,2e-3", r"config\."),
    C("search-preset-unknown", "search --name s --features tiny --preset nope --space config.lr=1e-3,2e-3",
      r"presets: anchored-term"),
    C("search-trials-zero", "search --name s --features tiny --preset dlinear-gbm --space config.lr=1e-3,2e-3 "
                            "--trials 0", r"at least 1"),
    C("search-config-string", "search --name s --features tiny --preset dlinear-gbm --space config.lr=1e-3,2e-3 "
                              "--config {in}/string.json", r"holds a string"),
    C("ablation-preset-unknown", "ablation --name a --features tiny --preset nope", r"presets: anchored-term"),
    C("ablation-group-unknown", "ablation --name a --features tiny --preset dlinear-gbm --groups nope", r"nope"),
    C("ablation-task-beyond-horizon", "ablation --name a --features tiny --preset dlinear-gbm --horizon 8",
      r"^error: the 24h task scores 24 h ahead but the model's horizon is 8 steps"),
    # ---------------------------------------------------------------- run names
    C("runs-show-unknown", "runs show nope", r"no run 'nope'"),
    C("runs-show-traversal", "runs show ../etc", r"invalid run id"),
    C("runs-show-500-chars", f"runs show {LONG.lower()}", r"invalid run id"),
    C("runs-show-nul", ["runs", "show", "r\x001"], r"invalid run id"),
    C("runs-store-is-a-file", "runs list --store {in}/good_1min.csv", r"models store .* is a file, not a folder"),
    C("runs-show-metrics-negative", "runs show r1 --metrics -1", r"argument --metrics: -1 is negative"),
    C("runs-delete-unknown", "runs delete nope --yes", r"no run 'nope'"),
    C("runs-rename-to-existing", "runs rename r1 tiny-run", r"already exists"),
    C("runs-rename-unusable", "runs rename r1 ///", r"invalid run name"),
    C("runs-delete-without-yes", "runs delete r1", r"--yes"),
    # ---------------------------------------------------------------- forecast
    C("forecast-out-not-json", "forecast --run r1 --task 1h --out r.txt", r"--out must be a \.json file"),
    C("forecast-out-uncreatable", "forecast --run r1 --task 1h --out /proc/nope/r.json", r"cannot write --out"),
    C("forecast-zero-paths", "forecast --run r1 --task 1h --out r.json --n-paths 0", r"--n-paths must be 2\.\.20000"),
    C("forecast-seed-huge", "forecast --run r1 --task 1h --out r.json --seed -1", r"--seed must be 0\.\."),
    C("forecast-at-unreadable", "forecast --run r1 --task 1h --out r.json --at garbage", r"cannot read 'garbage'"),
    C("forecast-run-unknown", "forecast --run nope --task 1h --out {in}/r.json", r"no run 'nope'"),
    # ---------------------------------------------------------------- the one bounded JSON reader
    C("train-config-deep", "train --name x --features tiny --config {in}/deep.json",
      r"training config .*deep\.json' nests lists or objects more than 64 levels deep"),
    C("train-config-huge-integer", "train --name x --features tiny --config {in}/bigint.json",
      r"training config .* holds the integer 100000000000\.\.\. \(5001 digits\), beyond the 64-bit range"),
    C("train-config-fifo", "train --name x --features tiny --config {in}/fifo.json",
      r"training config .*fifo\.json' is not a regular file \(a pipe, socket or device\)"),
    C("train-task-file-deep", "train --name x --features tiny --task {in}/deep.json", r"more than 64 levels deep"),
    C("models-validate-deep", "models validate {in}/deep.json", r"spec file .* more than 64 levels deep"),
    C("models-validate-huge-integer", "models validate {in}/bigint.json", r"beyond the 64-bit range"),
    C("models-validate-a-folder", "models validate {in}", r"spec file .* is a folder, not a file; give a \.json file",
      absent="does not exist"),
    C("backtest-spec-huge-integer", "backtest --spec {in}/bigint.json", r"backtest spec file .* beyond the 64-bit range"),
    C("backtest-spec-fifo", "backtest --spec {in}/fifo.json", r"is not a regular file"),
    C("compare-task-deep", "compare --runs r1 --task {in}/deep.json", r"task file .* more than 64 levels deep"),
    C("features-spec-huge-integer",
      "features build --name g --asset-class crypto --symbol BTC --freq 1h --spec {in}/bigint.json",
      r"feature spec file .* beyond the 64-bit range"),
    C("search-config-deep", "search --name s --features tiny --preset dlinear-gbm --space config.lr=1e-3,2e-3 "
                            "--config {in}/deep.json", r"more than 64 levels deep"),
    # ---------------------------------------------------------------- the one name check
    C("import-symbol-trailing-newline", ["data", "import", "{in}/good_1min.csv", "--asset-class", "crypto", "--symbol",
                                         "BTC\n", "--freq", "1min"],
      r"invalid symbol 'BTC\\n': it holds a control character"),
    C("show-symbol-trailing-newline", ["data", "show", "--asset-class", "crypto", "--symbol", "BTC\n", "--freq", "1h"],
      r"invalid symbol 'BTC\\n': it holds a control character"),
    C("features-name-trailing-newline", ["features", "build", "--name", "g\n", "--asset-class", "crypto", "--symbol",
                                         "BTC", "--freq", "1h"],
      r"invalid feature set name 'g\\n': it holds a control character"),
    C("features-name-tab", ["features", "build", "--name", "g\tx", "--asset-class", "crypto", "--symbol", "BTC",
                            "--freq", "1h"], r"invalid feature set name 'g\\tx': it holds a control character"),
    C("train-name-trailing-newline", ["train", "--name", "x\n", "--features", "tiny", "--preset", "dlinear-gbm",
                                      "--loss", "crps", "--context", "32", "--horizon", "8"],
      r"invalid run name 'x\\n': it holds a control character"),
    C("train-name-too-long", ["train", "--name", "x" * 300, "--features", "tiny", "--preset", "dlinear-gbm", "--loss",
                              "crps", "--context", "32", "--horizon", "8"], r"invalid run name .*300 characters"),
    C("runs-show-trailing-newline", ["runs", "show", "r1\n"], r"invalid run id 'r1\\n': it holds a control character"),
    C("runs-delete-trailing-newline", ["runs", "delete", "r1\n", "--yes"], r"invalid run id"),
    C("backtest-symbol-trailing-newline", ["backtest", "--asset-class", "crypto", "--symbol", "BTC\n", "--freq", "1h"],
      r"invalid symbol"),
    # ---------------------------------------------------------------- resources, before anything starts
    C("train-devices-beyond-the-cores", "train --name x --features tiny --preset dlinear-gbm --devices 1000",
      r"--devices 1000: that is 1,000 training processes but this machine has \d+ CPU core\(s\).*use --devices \d+ "
      r"or fewer"),
    C("train-devices-huge", "train --name x --features tiny --preset dlinear-gbm --devices " + "9" * 40,
      r"a 40-digit number of training processes but this machine has"),
    C("search-ray-cpus-inf", "search --name s --features tiny --preset dlinear-gbm --space config.lr=1e-3,2e-3 "
                             "--backend ray --cpus-per-trial inf", r"--cpus-per-trial inf is not a number"),
    C("search-ray-cpus-nan", "search --name s --features tiny --preset dlinear-gbm --space config.lr=1e-3,2e-3 "
                             "--backend ray --cpus-per-trial nan", r"--cpus-per-trial nan is not a number"),
    C("search-ray-gpus-inf", "search --name s --features tiny --preset dlinear-gbm --space config.lr=1e-3,2e-3 "
                             "--backend ray --gpus-per-trial inf", r"--gpus-per-trial inf is not a number"),
    C("search-ray-cpus-absurd", "search --name s --features tiny --preset dlinear-gbm --space config.lr=1e-3,2e-3 "
                                "--backend ray --cpus-per-trial 1e9", r"more than any machine has"),
    C("search-ray-cpus-beyond-the-machine", "search --name s --features tiny --preset dlinear-gbm "
                                            "--space config.lr=1e-3,2e-3 --backend ray --cpus-per-trial 1000",
      r"each trial asks for 1000 CPU\(s\) and 0 GPU\(s\) but this machine has \d+ CPU\(s\)"),
    C("ablation-ray-gpus-nan", "ablation --name a --features tiny --preset dlinear-gbm --backend ray "
                               "--gpus-per-trial nan", r"--gpus-per-trial nan is not a number"),
    C("ablation-ray-gpus-absurd", "ablation --name a --features tiny --preset dlinear-gbm --backend ray "
                                  "--gpus-per-trial 1000", r"more than any machine has"),
    C("search-ray-address-malformed", "search --name s --features tiny --preset dlinear-gbm --space "
                                      "config.lr=1e-3,2e-3 --backend ray --ray-address nowhere",
      r"--ray-address 'nowhere': use auto, HOST:PORT"),
    # ---------------------------------------------------------------- bounded CSV reading
    C("import-a-million-columns", IMPORT % ("million_columns.csv", "1min"),
      r"line 1 of million_columns\.csv is [\d,]+ characters long, more than the 100,000"),
    C("import-5000-columns", IMPORT % ("wide.csv", "1min"), r"wide\.csv has 5,000 columns .*more than the 1,000"),
    C("import-one-huge-line", IMPORT % ("long_line.csv", "1min"),
      r"line 3 of long_line\.csv is 300,0\d\d characters long"),
    C("import-year-1500", IMPORT % ("year_1500.csv", "1min"),
      r"timestamps in ts out of range: rows 1, 2, .*dated in the year 1500; synthwb reads bars dated 1900 to 2261",
      absent="no known format"),
    # ---------------------------------------------------------------- the calendar and stale data
    C("forecast-at-year-1500", "forecast --run r1 --task 24h --out r.json --at 1500-01-01",
      r"request time \(--at\): '1500-01-01' is in the year 1500, outside the calendar synthwb can hold \(1678-2261"),
    C("forecast-at-year-10000", "forecast --run r1 --task 24h --out r.json --at 10000-01-01",
      r"'10000-01-01' is in the year 10000, outside the calendar"),
    C("forecast-before-the-data", "forecast --run r1 --task 24h --out r.json --at 2023-06-01",
      r"request time 2023-06-01 00:00 UTC \(--at\) is before any bar of crypto/BTC closed: its data starts at "
      r"2024-01-01"),
    C("forecast-30h-after-the-data", "forecast --run r1 --task 24h --out r.json --at 2024-01-20T12:17",
      r"the data of crypto/BTC ends at 2024-01-19 06:18 UTC, 30\.0 h before the request time .*pass --allow-stale",
      absent="no bars before"),
    C("forecast-far-after-the-data", "forecast --run r1 --task 24h --out r.json --at 2100-01-01",
      r"the data of crypto/BTC ends at 2024-01-19 06:18 UTC, [\d.]+ days before"),
    C("backtest-start-year-1500", "backtest --run r1 --start 1500-01-01", r"in the year 1500, outside the calendar"),
    # ---------------------------------------------------------------- moirai
    C("train-moirai-empty", ["train", "--name", "m", "--features", "tiny", "--moirai", ""],
      r"--moirai is empty: give a checkpoint"),
    C("train-moirai-nan-weights", "train --name m --features tiny --moirai {in}/nanck --context 32 --horizon 8",
      r"the Moirai checkpoint '.*nanck' holds NaN/inf weights \(in \d+ tensor\(s\), e\.g\. [\w.]+\): it is damaged"),
    C("moirai-forecast-nan-weights", "moirai forecast --checkpoint {in}/nanck --features tiny --paths 10",
      r"holds NaN/inf weights", absent="tensor(["),
    # ---------------------------------------------------------------- the Synth reward's weights
    C("compare-reward-weights-all-zero", "compare --runs r1 --baselines gbm --reward --asset-weight BTC=0",
      r"every compared asset's weight is 0 \(BTC=0\): the reward's weighted mean is undefined"),
    C("compare-reward-weight-1e308", "compare --runs r1 --baselines gbm --reward --asset-weight BTC=1e308",
      r"asset weight BTC=1e\+308: give a finite weight from 0 to 1000"),
    C("compare-reward-weight-not-compared", "compare --runs r1 --baselines gbm --reward --asset-weight XAU=2",
      r"asset weight for XAU: not a compared asset \(the reward scores BTC\); drop it"),
    C("compare-weight-without-reward", "compare --runs r1 --baselines gbm --asset-weight BTC=2", r"add --reward"),
]


def _lines(*rows: str) -> str:
    return "\n".join(rows) + "\n"


def _bars(start: datetime, step: timedelta, n: int, fmt=lambda t: t.strftime("%Y-%m-%d %H:%M:%S"), sep=",",
          row=lambda i: "1,2,0.5,1.5,10") -> list[str]:
    return [f"{fmt(start + i * step)}{sep}{row(i)}" for i in range(n)]


HEAD = "ts,open,high,low,close,volume"
M, H, D = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
T0 = datetime(2024, 1, 1)


def _inputs(folder: Path) -> None:
    w = lambda name, text: (folder / name).write_text(text, encoding="utf-8")
    w("good_1min.csv", _lines(HEAD, *_bars(T0, M, 60)))
    semi = ["ts;open;high;low;close;volume", *_bars(T0, M, 50, sep=";", row=lambda i: "1,5;2,5;1;2;10")]
    semi_quote = list(semi)
    semi_quote[5] = '2024-01-01 00:04:00;1"5;2,5;1;2;10'
    w("semi_quote.csv", _lines(*semi_quote))
    semi[8] += ";4"
    w("semi_ragged.csv", _lines(*semi))
    w("daily.csv", _lines(HEAD, *_bars(T0, D, 60)))
    w("hourly.csv", _lines(HEAD, *_bars(T0, H, 60)))
    w("five.csv", _lines(HEAD, *_bars(T0, 5 * M, 60)))
    w("future.csv", _lines(HEAD, *_bars(datetime(2036, 1, 1), M, 60)))
    w("epoch_1e30.csv", _lines(HEAD, *(f"{1e30 + i * 1e20},1,2,0.5,1.5,10" for i in range(50))))
    w("epoch_int30.csv", _lines(HEAD, *(f"{10**30 + i},1,2,0.5,1.5,10" for i in range(50))))
    ms = [f"{1_704_067_200_000 + i * 60_000},1,2,0.5,1.5,10" for i in range(50)]
    ms[4] = "1704067440000x,1,2,0.5,1.5,10"
    ms[7] = "2024-01-01,1,2,0.5,1.5,10"
    w("epoch_ms_bad.csv", _lines(HEAD, *ms))
    ms = [f"{1_704_067_200_000 + i * 60_000},1,2,0.5,1.5,10" for i in range(50)]
    ms[0] = "1704067200,1,2,0.5,1.5,10"
    w("epoch_ms_one_s.csv", _lines(HEAD, *ms))
    grid = _bars(T0, H, 48)
    grid[10] = "2024-01-01 10:30:00,1,2,0.5,1.5,10"
    w("offgrid.csv", _lines(HEAD, *grid))
    many = _bars(T0, M, 50)
    many[19] = "2024-01-01 00:19:00,1,2,0.5,1.5,-5"
    many[29] = "2036-01-01 00:19:00,1,2,0.5,1.5,5"
    w("many_problems.csv", _lines(HEAD, *many))
    two = _bars(T0, M, 50)
    two[9] = "2024-01-01 00:09:00,1,x,0.5,1.5,10"
    two[11] = "2024-01-01 00:11:00,1,2,0.5,1.5,lots"
    w("two_bad_columns.csv", _lines(HEAD, *two))
    dups = _bars(T0, M, 20)
    dups[3] = dups[2]
    w("dups.csv", _lines(HEAD, *dups))
    hl = _bars(T0, M, 20)
    hl[3] = "2024-01-01 00:03:00,1,0.4,0.5,0.45,10"
    w("high_low.csv", _lines(HEAD, *hl))
    w("header_only.csv", _lines(HEAD))
    (folder / "binary.csv").write_bytes(b"PK\x05\x06" + b"\x00\x01\x02" * 100)
    w("ambiguous.csv", _lines(HEAD, "01/02/2024,1,2,0.5,1.5,10", "02/03/2024,1,2,0.5,1.5,10"))
    w("mixed_offsets.csv", _lines(HEAD, "2024-01-01 00:00:00+01:00,1,2,0.5,1.5,10", "2024-01-01 01:00:00,1,2,0.5,1.5,10"))
    w("bid_ask_no_volume.csv", _lines("BidOpen,AskOpen,time,high,low,close", "1,1,2024-01-01,2,0.5,1.5",
                                      "1,1,2024-01-02,2,0.5,1.5"))
    w("list.json", "[1, 2]")
    w("crps.json", '{"loss": "crps", "device": "cpu"}')
    w("string.json", '"hello"')
    w("config_unknown.json", '{"learning_rate": 0.1}')
    w("feature_unknown.json", '{"features": [{"name": "no_such_feature", "params": {}}]}')
    sel = '"selection": {"asset_class": "crypto", "symbol": "BTC", "freq": "15min"}, "task": "1h", "baselines": ["gbm"]'
    w("history_inf.json", "{%s, \"history_days\": Infinity}" % sel)
    w("history_nan.json", "{%s, \"history_days\": NaN}" % sel)
    w("selection_5.json", '{"selection": 5, "task": "1h"}')
    w("deep.json", '{"a": ' * 200 + "1" + "}" * 200)
    w("bigint.json", '{"lr": 1' + "0" * 5000 + "}")
    os.mkfifo(folder / "fifo.json")  # a reader that opened it would block forever
    w("million_columns.csv", _lines(",".join("c" for _ in range(1_000_000)), ",".join("1" for _ in range(1_000_000))))
    w("wide.csv", _lines(*(",".join(["2024-01-01 00:00:00"] + ["1"] * 4999) for _ in range(3))))
    w("long_line.csv", _lines(HEAD, *_bars(T0, M, 1), "2024-01-01 00:01:00," + "1" * 300_000 + ",2,0.5,1.5,10",
                              *_bars(T0 + 2 * M, M, 5)))
    w("year_1500.csv", _lines(HEAD, *_bars(datetime(1500, 1, 1), M, 50)))


@pytest.fixture(scope="module")
def world(demo_lake, tmp_path_factory):
    """One lake (the demo lake's copy), one store (feature set 'tiny', runs 'r1' and 'tiny-run'),
    the bad input files. Shared by every case: each must leave it exactly as it was."""
    base = tmp_path_factory.mktemp("bad_inputs")
    lake, store, inputs = base / "lake", base / "store", base / "inputs"
    shutil.copytree(demo_lake, lake)
    inputs.mkdir()
    _inputs(inputs)
    make_tiny_checkpoint(inputs / "tinyck")
    _nan_checkpoint(inputs / "tinyck", inputs / "nanck")
    make_featureset(lake, store)
    for name in ("r1", "tiny-run"):
        train(name, "tiny", "dlinear-gbm", tiny_config(max_steps=2, val_every=2), store=store, root=lake,
              context=CONTEXT, horizon=HORIZON)
    return lake, store, inputs


def _nan_checkpoint(src: Path, dst: Path) -> None:
    """A copy of a checkpoint whose floating-point weights are all NaN (damaged, or tampered)."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dst)
    state = load_file(str(dst / "model.safetensors"))
    save_file({k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in state.items()},
              str(dst / "model.safetensors"))


def snapshot(*roots: Path) -> dict[str, str | None]:
    """Every file's SHA-256 and every folder (None) under ``roots``."""
    out: dict[str, str | None] = {}
    for root in roots:
        for p in sorted(root.rglob("*")):
            key = f"{root.name}/{p.relative_to(root)}"
            out[key] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None  # a FIFO: None
    return out


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own refusals
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_the_suite_covers_every_area_with_at_least_60_cases():
    ids = [c.values[0].id if hasattr(c, "values") else c.id for c in CASES]
    assert len(ids) == len(set(ids)) >= 60
    areas = {i.split("-")[0] for i in ids}
    assert {"import", "show", "features", "models", "train", "backtest", "compare", "ensemble", "search",
            "ablation", "runs", "forecast", "moirai"} <= areas


@pytest.mark.parametrize("case", CASES, ids=[c.values[0].id if hasattr(c, "values") else c.id for c in CASES])
def test_bad_input_is_refused_cleanly(case: Case, world, monkeypatch, tmp_path):
    lake, store, inputs = world
    monkeypatch.setenv("SYNTHWB_DATA_DIR", str(lake))
    monkeypatch.setenv("SYNTHWB_STORE_DIR", str(store))
    monkeypatch.setenv("SYNTHWB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)  # a relative output path would land here
    argv = [a.replace("{in}", str(inputs)) for a in case.argv]
    before = snapshot(lake, store, inputs)
    code, out, err = run_cli(argv)
    after = snapshot(lake, store, inputs)

    assert "Traceback" not in out + err
    assert code == 2, f"exit {code}; stdout={out[-300:]!r} stderr={err[-300:]!r}"
    lines = err.strip().splitlines()
    # one error line, the last (a search may print its trials' progress lines before it)
    assert [ln for ln in lines if ln.startswith("error:")] == lines[-1:], err
    assert re.search(case.message, lines[-1]), lines[-1]
    if case.absent:
        assert case.absent not in lines[-1]
    assert after == before, f"disk changed: {sorted(set(after.items()) ^ set(before.items()))[:6]}"
    assert not list(tmp_path.glob("*.csv")) and not list(tmp_path.glob("*.json"))
