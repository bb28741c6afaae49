"""The quality panel's tables (``bench/bench_quality.py``): per model over every fold's origins, the mean, ratio to
gbm (per fold and per scored interval), 90% coverage, Diebold-Mariano p-values against gbm and the best classical
model; printed as text and as the README's Markdown."""
from __future__ import annotations

import math

import numpy as np

COPIES = "_copies"  # labels' entry naming rows that repeat another model's (the same forecasts)


def table_rows(folds: list[tuple], task, name: str) -> list[dict]:
    """Per model, over the origins of every fold ((result, labels, notes) each; a model is known by its label,
    its run id differs per fold): mean, ratio to gbm (and per fold), 90% coverage, DM p against gbm and against
    the best classical one, fit/train seconds, backtest seconds."""
    import polars as pl

    from synthwb.evaluate.compare import dm_test

    pivs, ivs, cov, info, fold_ratio = [], [], {}, {}, {}
    for res, labels, _ in folds:
        lab = {m: labels.get(m, (m,))[0] for m in res.per_origin["model"].unique().to_list()}
        po = res.per_origin.filter(pl.col("valid")).with_columns(pl.col("model").replace_strict(lab))
        piv = po.pivot(on="model", index="origin", values="total").drop_nulls().sort("origin")
        for copy, of in labels.get(COPIES, {}).items():
            piv = piv.with_columns(pl.col(of).alias(copy))
        pivs.append(piv)
        iv = (res.intervals.filter(pl.col("origin").is_in(piv["origin"].implode()))
              .with_columns(pl.col("model").replace_strict(lab)))
        ivs.append(pl.concat([iv, *(iv.filter(pl.col("model") == of).with_columns(pl.lit(copy).alias("model"))
                                    for copy, of in labels.get(COPIES, {}).items())]))
        summ = {r["model"]: r for r in res.summary().to_dicts()}
        model_s = (res.meta or {}).get("model_seconds") or {}
        for m, label in lab.items():
            kind = labels.get(m, (m, summ.get(m, {}).get("kind", "")))[1]
            fit_s = labels[m][2] if m in labels else None
            c = info.setdefault(label, {"kind": kind, "fit_s": [], "backtest_s": 0.0})
            if fit_s is not None:
                c["fit_s"].append(fit_s)
            c["backtest_s"] += model_s.get(m) or 0.0
            if summ.get(m, {}).get("coverage_90") is not None:
                cov.setdefault(label, []).append((summ[m]["coverage_90"], piv.height))
            if label in piv.columns:
                fold_ratio.setdefault(label, []).append(float(piv[label].mean() / piv["gbm"].mean()))
        for copy, of in labels.get(COPIES, {}).items():
            info.setdefault(copy, {"kind": "run", "fit_s": [], "backtest_s": 0.0})
            cov.setdefault(copy, []).append(cov[of][-1])
            fold_ratio.setdefault(copy, []).append(fold_ratio[of][-1])
    piv = pl.concat(pivs, how="diagonal_relaxed").drop_nulls()
    res0 = folds[-1][0]
    tk = res0.task  # under the backtest's validator version (1h under 2026-09: with the volatility term)
    spacing = np.median(np.diff(piv["origin"].to_numpy()).astype("timedelta64[s]").astype(float)) if piv.height > 1 else 1
    lag = max(1, int(math.ceil(tk.horizon_seconds / max(spacing, 1.0))))
    cols = [c for c in piv.columns if c != "origin"]
    classical = [c for c in cols if info.get(c, {}).get("kind") == "classical"] or [c for c in cols if c == "garch"]
    best_cl = min(classical, key=lambda c: piv[c].mean()) if classical else None
    gbm = piv["gbm"].to_numpy()
    interval = interval_ratios(pl.concat(ivs), piv["origin"])
    notes = [n for _, _, ns in folds for n in ns]
    span = f"{piv['origin'].min():%Y-%m-%d} .. {piv['origin'].max():%Y-%m-%d}"
    rows = []
    for m in cols:
        v = piv[m].to_numpy()
        c = info.get(m, {"kind": "", "fit_s": [], "backtest_s": 0.0})
        p_gbm = dm_test(v - gbm, h=lag)[1] if m != "gbm" else math.nan
        p_cl = dm_test(v - piv[best_cl].to_numpy(), h=lag)[1] if best_cl and m != best_cl else math.nan
        cv = cov.get(m)
        rows.append({"series": name, "model": m, "id": m, "kind": c["kind"], "n": len(v), "mean": float(v.mean()),
                     "vs_gbm": float(v.mean() / gbm.mean()),
                     "coverage_90": sum(x * k for x, k in cv) / sum(k for _, k in cv) if cv else None,
                     "dm_p_gbm": p_gbm, "dm_p_best_classical": p_cl, "best_classical": best_cl,
                     "fit_s": float(np.mean(c["fit_s"])) if c["fit_s"] else None,
                     "backtest_s": c["backtest_s"] or None, "dm_lag": lag, "folds": len(folds),
                     "fold_vs_gbm": fold_ratio.get(m, []),
                     "task": tk.name + (" with its volatility term" if tk.vol_blocks else ""),
                     "origins": span, "notes": notes, "intervals": interval.get(m, {})})
    return sorted(rows, key=lambda r: r["mean"])


def interval_ratios(iv, origins) -> dict[str, dict[str, float]]:
    """model -> {interval: its mean score over ``origins`` / gbm's}, then {"all <kind>": the same over each
    kind of term (price increments, gaps, the volatility term)}: where a model gains or loses. ``iv``: the
    results' per-origin interval sums (``BacktestResult.intervals``)."""
    import polars as pl

    iv = iv.filter(pl.col("origin").is_in(origins.implode()))
    out: dict[str, dict[str, float]] = {}
    for by, key in (("interval", "interval"), ("kind", "kind")):
        means = iv.group_by(["model", by]).agg(pl.col("score").mean())
        tab = {(r["model"], r[by]): r["score"] for r in means.to_dicts()}
        order = list(dict.fromkeys(iv[by].to_list()))
        for m in dict.fromkeys(iv["model"].to_list()):
            out.setdefault(m, {}).update({(k if key == "interval" else f"all {k}"): tab[(m, k)] / tab[("gbm", k)]
                                          for k in order if (m, k) in tab and tab.get(("gbm", k))})
    return out


def fmt_table(rows: list[dict]) -> str:
    head = (f"{'model':<36} {'n':>4} {'mean':>9} {'vs gbm':>7} {'cov90':>6} {'DM p gbm':>9} {'DM p cl':>8} "
            f"{'fit s':>7} {'bt s':>6}")
    lines = []
    for series in dict.fromkeys(r["series"] for r in rows):
        rs = [r for r in rows if r["series"] == series]
        lines += ["", f"{series}  [task {rs[0]['task']}; origins {rs[0]['origins']}; DM lag {rs[0]['dm_lag']}; "
                      f"best classical: {rs[0]['best_classical']}]", *(f"  note: {n}" for n in rs[0]["notes"]),
                  head]
        for r in rs:
            cov = f"{r['coverage_90']:.3f}" if r["coverage_90"] is not None else "-"
            p1 = f"{r['dm_p_gbm']:.2g}" if not math.isnan(r["dm_p_gbm"]) else "-"
            p2 = f"{r['dm_p_best_classical']:.2g}" if not math.isnan(r["dm_p_best_classical"]) else "-"
            fs = f"{r['fit_s']:.1f}" if r["fit_s"] is not None else ""
            bs = f"{r['backtest_s']:.0f}" if r["backtest_s"] is not None else ""
            lines.append(f"{r['model'][:36]:<36} {r['n']:>4} {r['mean']:>9.1f} {r['vs_gbm']:>7.3f} {cov:>6} {p1:>9} "
                         f"{p2:>8} {fs:>7} {bs:>6}")
        ivs = [r for r in rs if r.get("intervals") and r["kind"] in ("run", "classical", "reference")]
        if ivs:
            names = [n for n in ivs[0]["intervals"] if not n.startswith("all ")]
            kinds = [n for n in ivs[0]["intervals"] if n.startswith("all ")]
            names = names if len(names) <= 8 else names[:4] + kinds  # the 1h task's 21 terms: a summary
            lines += ["  per interval, vs gbm: " + " ".join(f"{n:>9}" for n in names)]
            lines += [f"  {r['model'].strip()[:20]:<20} " + " ".join(f"{r['intervals'].get(n, math.nan):>9.3f}"
                                                             for n in names) for r in ivs]
        if rs[0].get("folds", 1) > 1:
            lines += ["  per fold, vs gbm:      " + " ".join(f"{f'fold {j + 1}':>9}" for j in range(rs[0]["folds"]))]
            lines += [f"  {r['model'].strip()[:20]:<20} " + " ".join(f"{x:>9.3f}" for x in r["fold_vs_gbm"])
                      for r in rs if r["kind"] in ("run", "classical")]
    return "\n".join(lines)


def fmt_markdown(rows: list[dict]) -> str:
    out = ["| series (task) | model | mean score | vs gbm | 90% coverage | DM p vs gbm | DM p vs best classical "
           "| train / fit s |", "|---|---|---|---|---|---|---|---|"]
    last = None
    for r in rows:
        first = r["series"] != last
        last = r["series"]
        cov = f"{r['coverage_90']:.3f}" if r["coverage_90"] is not None else ""
        p1 = f"{r['dm_p_gbm']:.2g}" if not math.isnan(r["dm_p_gbm"]) else ""
        p2 = f"{r['dm_p_best_classical']:.2g}" if not math.isnan(r["dm_p_best_classical"]) else ""
        fs = f"{r['fit_s']:.1f}" if r["fit_s"] is not None else ""
        out.append(f"| {r['series'] + ' (' + r['task'] + ')' if first else ''} | {r['model'].strip()} | "
                   f"{r['mean']:.1f} | {r['vs_gbm']:.3f} | {cov} | {p1} | {p2} | {fs} |")
    notes = {r["series"]: r["notes"] for r in rows if r.get("notes")}
    out += [""] + [f"- {k}: {n}" for k, ns in notes.items() for n in ns] if notes else []
    return "\n".join(out)
