"""The blend, taken apart on the quality panel's test folds: every member scored on its own, and the
mixture each way of fitting it.

Reads the work directory ``bench_quality.py`` leaves (``work dir /tmp/synthwb-quality-...``, its first
line): for every fold store with a trained anchored run, the run (calibrated as recorded) and each
default classical forecaster forecast ``--windows`` windows of the validation split and of the test
split (:func:`synthwb.train.loop.blend_candidates`); each classical model also appears moved onto the
run's drift. Every member and pair is scored per window once (:func:`synthwb.forecast.ensemble.
pair_scores`), so any mixture's test score is a quadratic form, and these are printed, pooled over a
series' folds as ratios to its best classical model on the test windows (chosen over the pooled folds),
with the Diebold-Mariano p-value against it (Newey-West lag: the horizon over the windows' spacing):

- ``run``: the network alone; ``equal classical``: the classical models at equal shares;
- ``blend``: the training's fit (:func:`synthwb.train.blend.fit_blend`: the run and the classical
  models as they are, fitted on ``BLEND_WINDOWS`` validation windows, small shares dropped);
- ``blend, all val``: the same fitted on every window read from the validation split;
- ``blend, 2n-path pairs``: the same fitted on the pair scores used before 2026-12-07 (each pair pooled
  from both members' paths, so twice as many: a mixture scored better than its members for nothing);
- ``blend before``: the default of 2026-12-07, 2n-path pairs and each classical model a candidate
  twice, as it is and moved onto the run's drift.

Every test score is of n-path ensembles (members and mixtures alike), so the policies compare fairly.

    python bench/bench_blend.py /tmp/synthwb-quality-XXXX [--series eurusd] [--windows 800]

About 30-60 s per fold on 2 cores for the real series, 5 minutes for the demo's 24h task (289 points);
about 25 minutes for the whole panel.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthwb.core.errors import SynthwbError  # noqa: E402
from synthwb.evaluate.compare_stats import dm_test, overlap_lag  # noqa: E402
from synthwb.forecast.ensemble import _task_scorer, carry_drift, origin_forms, pair_scores, simplex_min  # noqa: E402
from synthwb.store import runs as store_runs  # noqa: E402
from synthwb.train.blend import BLEND_WINDOWS, kept_shares  # noqa: E402
from synthwb.train.loop import blend_candidates  # noqa: E402


def fold_stores(work: Path, only: str) -> list[tuple[str, Path, Path, str]]:
    """(series key, store, lake, run id) of every store in ``work`` holding a finished anchored run."""
    out = []
    for store in sorted(work.glob("store-*")):
        key = store.name[len("store-"):]
        series = key.rsplit("-fold", 1)[0]
        if only and only not in series:
            continue
        lake = work / ("demo" if series.startswith("demo") else f"lake-{series}")
        runs = [d.name for d in store.iterdir() if (d / store_runs.BEST).is_file()]
        if runs and lake.is_dir():
            out.append((series, store, lake, runs[0]))
    return out


def member_forms(run_id, split, store, lake, n) -> tuple[list[str], np.ndarray, np.ndarray, float]:
    """Member names, per-window quadratic forms (O, M, M), the windows' origins (s) and the horizon (s)."""
    m = blend_candidates(run_id, split, store, lake, n)
    names = ["run"] + [lab for lab, _ in m["names"][1:]]
    sets = list(m["sets"])
    if np.abs(m["drift"]).max() > 1e-9:  # each classical model on the run's drift too
        names += [f"{lab} (run drift)" for lab, _ in m["names"][1:]]
        sets += [carry_drift(p.copy(), m["drift"]) for p in m["sets"][1:]]
    task_seconds = float(m["step_seconds"]) * (m["sets"][0].shape[-1] - 1)
    fn = _task_scorer(m["task"], m["realised"], m["step_seconds"])
    forms = {"n": origin_forms(pair_scores(sets, fn))}
    if split == "val":
        forms["2n"] = origin_forms(pooled_pair_scores(sets, fn))
    return names, forms, np.array([o.timestamp() for o in m["origins"]]), task_seconds


def pooled_pair_scores(sets, fn) -> np.ndarray:
    """The pair scores the blend fit used before 2026-12-07: each pair pooled from all 2n paths (a pair
    scores about c / 2n better than its members for nothing: the fit leaned to equal shares)."""
    n = min(p.shape[1] for p in sets)
    sets = [p[:, :n] for p in sets]
    M = len(sets)
    per = np.empty((M, M, sets[0].shape[0]))
    for i in range(M):
        per[i, i] = fn(sets[i])
        for j in range(i):
            per[i, j] = per[j, i] = fn(np.concatenate([sets[i], sets[j]], axis=1))
    return per


def _fit(forms: np.ndarray, idx: list[int], M: int) -> np.ndarray:
    Q = forms[:, idx][:, :, idx]
    Q = Q[np.isfinite(Q).all(axis=(1, 2))].mean(axis=0)
    x = simplex_min(Q)
    w = np.zeros(M)
    w[idx] = kept_shares(x, float(x @ Q @ x), float(Q[0, 0]))  # idx[0] is the run
    return w


def policies(names: list[str], forms: dict) -> dict[str, np.ndarray]:
    val, old = forms["n"], forms["2n"]
    M = len(names)
    plain = [i for i, n in enumerate(names) if not n.endswith("(run drift)")]
    classical = [i for i in plain if i > 0]
    pick = np.unique(np.linspace(0, val.shape[0] - 1, min(BLEND_WINDOWS, val.shape[0])).round().astype(int))
    eq = np.zeros(M)
    eq[classical] = 1.0 / len(classical)
    out = {"run": np.eye(M)[0], "equal classical": eq, "blend": _fit(val[pick], plain, M),
           "blend, all val": _fit(val, plain, M), "blend, 2n-path pairs": _fit(old[pick], plain, M),
           # the default of 2026-12-07: both forms of each partner, 2n-path pairs (a run without drift: one form)
           "blend before": _fit(old[pick], list(range(M)), M)}
    return out


POLICIES = ("run", "equal classical", "blend", "blend, all val", "blend, 2n-path pairs", "blend before")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("work", type=Path, help="a bench_quality.py work directory")
    ap.add_argument("--series", default="", help="only the series whose key contains this")
    ap.add_argument("--windows", type=int, default=800, help="windows read from each split (default 800)")
    ap.add_argument("--json", type=Path, help="write the per-window test scores of every policy here")
    args = ap.parse_args()
    stores = fold_stores(args.work, args.series)
    if not stores:
        raise SystemExit(f"no fold store with a trained anchored run under {args.work}")
    per_series: dict[str, list] = {}
    for series, store, lake, run_id in stores:
        try:
            names, val, _, _ = member_forms(run_id, "val", store, lake, args.windows)
            names_t, test, t, horizon = member_forms(run_id, "test", store, lake, args.windows)
        except SynthwbError as exc:
            print(f"{store.name}: skipped ({exc})")
            continue
        assert names == names_t, (names, names_t)
        test = test["n"]
        ok = np.isfinite(test).all(axis=(1, 2))
        pol = policies(names, val)
        diag = np.einsum("oii->oi", test[ok])
        scores = {k: np.einsum("i,oij,j->o", w, test[ok], w) for k, w in pol.items()}
        scores.update({n: diag[:, i] for i, n in enumerate(names) if i > 0 and not n.endswith("(run drift)")})
        spacing = float(np.median(np.diff(t[ok]))) if ok.sum() > 1 else horizon
        per_series.setdefault(series, []).append((scores, overlap_lag(horizon, spacing)))
        print(f"{store.name}: {len(names)} members, {int(ok.sum())} test windows; "
              + ", ".join(f"{k} {v.mean():.2f}" for k, v in scores.items() if k in pol), flush=True)
    print()
    dump = {}
    for series, folds in per_series.items():
        keys = [k for k in folds[0][0] if all(k in f[0] for f in folds)]
        pooled = {k: np.concatenate([f[0][k] for f in folds]) for k in keys}
        lag = max(f[1] for f in folds)
        cls = [k for k in keys if k not in ("run", "equal classical") and not k.startswith("blend")]
        best = min(cls, key=lambda k: pooled[k].mean())
        b = pooled[best]
        cells = []
        for k in POLICIES:
            if k in pooled:
                p = dm_test(pooled[k] - b, h=lag)[1]
                cells.append(f"{k} {pooled[k].mean() / b.mean():.4f} (p {p:.2g})")
        print(f"{series} ({len(folds)} folds, {b.size} windows; best classical {best} {b.mean():.2f}): "
              + "; ".join(cells))
        dump[series] = {k: v.tolist() for k, v in pooled.items()}
    if args.json:
        args.json.write_text(json.dumps(dump))


if __name__ == "__main__":
    main()
