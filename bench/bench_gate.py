"""What training adds over the untrained anchor, fold by fold, on a ``bench_quality.py`` work directory.

For every fold store with a trained anchored run, three networks forecast ``--windows`` windows of the
fold's validation split and of its test split (256 paths each, the same noise for all, uncalibrated and
unblended):

- ``smooth``: the untrained model with the anchor's variance smooth between its knots (the anchor before
  2026-12-08: ``ModelSpec.anchor_profile`` None);
- ``untrained``: the untrained model as training builds it now (the feature set's hour-of-week profile
  spreads each knot segment's variance over its steps);
- ``best``: the run's best weights as stored (after the gate: the untrained ones where it went back).

Printed per fold: each one's mean task score as a ratio to ``untrained``, and the DM statistic (HLN,
Newey-West lag: the horizon over the windows' spacing) of ``best`` against ``untrained`` on each split;
then per series, pooled over the folds. A run trained with ``--no-gate`` (or before the gate) shows
what the gate would decide: training is kept when the validation DM statistic is below -1.645.

    python bench/bench_gate.py /tmp/synthwb-quality-XXXX [--series limen] [--windows 800]

About 10-40 s per fold of the real series on 2 cores; a few minutes for the demo's 24h task.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_blend import fold_stores  # noqa: E402

from synthwb.core.dm import dm_test, overlap_lag  # noqa: E402
from synthwb.features.featureset import run_featureset, saved_twin  # noqa: E402
from synthwb.models.spec import run_spec  # noqa: E402
from synthwb.store import runs as store_runs  # noqa: E402
from synthwb.train.config import TrainConfig  # noqa: E402
from synthwb.train.gate import GATE_T, untrained_model, window_scores  # noqa: E402
from synthwb.train.inputs import anchor_profile  # noqa: E402
from synthwb.train.loop import _Trainer  # noqa: E402

N_PATHS = 256
MODELS = ("smooth", "untrained", "best")


def fold_scores(store: Path, lake: Path, run_id: str, n_windows: int) -> dict:
    """{split: {model: per-window scores}, "lag": {split: lag}, "gate": run.json's gate} of one fold."""
    run = store_runs.load_run(run_id, store)
    cfg = TrainConfig.parse(run.info.get("config") or {})
    spec = run_spec(run)
    tr = _Trainer(run_id, run.path, store, saved_twin(run_featureset(run), store), spec, cfg, None, None, root=lake)
    try:
        nets = {"smooth": untrained_model(spec.with_sizes(anchor_profile=None), cfg.seed),
                "untrained": untrained_model(spec.with_sizes(anchor_profile=anchor_profile(tr.fs)), cfg.seed),
                "best": tr._best_model()}
        out: dict = {"lag": {}, "gate": run.info.get("gate")}
        for split in ("val", "test"):
            ds = tr._windows(split, 1).limit(int(n_windows))
            got = {k: window_scores(m, ds, tr.task, tr.step_seconds, N_PATHS, 64, "cpu", cfg.seed) for k, m in nets.items()}
            t0 = got["best"][1]
            out[split] = {k: v[0] for k, v in got.items()}
            out["lag"][split] = overlap_lag(float(tr.task.horizon_seconds), float(np.median(np.diff(np.sort(t0)))))
        return out
    finally:
        tr.close()


def line(label: str, scores: dict, lags: dict) -> str:
    parts = []
    for split in ("val", "test"):
        s = scores[split]
        ok = np.all([np.isfinite(s[k]) for k in MODELS], axis=0)
        base = s["untrained"][ok].mean()
        stat = dm_test(s["best"][ok] - s["untrained"][ok], lags[split])[0]
        parts.append(f"{split}: " + " ".join(f"{k} {s[k][ok].mean() / base:.4f}" for k in MODELS) + f" (DM {stat:+.2f})")
    return f"{label:34s} " + " | ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("work", help="the work directory bench_quality.py printed")
    ap.add_argument("--series", default="", help="only series whose key contains this")
    ap.add_argument("--windows", type=int, default=800)
    args = ap.parse_args()
    folds: dict[str, list] = {}
    for series, store, lake, run_id in fold_stores(Path(args.work), args.series):
        f = fold_scores(store, lake, run_id, args.windows)
        g = f["gate"] or {}
        gate = ("gate: not run" if not g or g.get("dm_stat") is None else
                f"gate: {'kept' if g['kept'] else 'went back'} (DM {g['dm_stat']:+.2f})")
        print(line(f"{store.name[len('store-'):]}", f, f["lag"]) + f" | {gate}", flush=True)
        folds.setdefault(series, []).append(f)
    print(f"\npooled over the folds (ratio to the untrained model; gate threshold DM < {-GATE_T}):")
    for series, fs in folds.items():
        pooled = {split: {k: np.concatenate([f[split][k] for f in fs]) for k in MODELS} for split in ("val", "test")}
        print(line(series, pooled, {s: max(f["lag"][s] for f in fs) for s in ("val", "test")}))


if __name__ == "__main__":
    main()
