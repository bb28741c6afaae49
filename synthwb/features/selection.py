"""Feature selection: drop one of each highly correlated pair, then rank the rest by a tree
model's importance against the forward log return, keep the top N. Both steps are reported."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from synthwb.core.errors import SpecError


@dataclass
class SelectionReport:
    dropped: list[dict] = field(default_factory=list)      # {"dropped", "kept", "corr"}
    importances: list[dict] = field(default_factory=list)  # {"feature", "importance"}, descending
    kept: list[str] = field(default_factory=list)
    corr_threshold: float = 0.95
    top_n: int = 20
    horizon: int = 1
    rows: int = 0
    model: str = "extra_trees"

    def dropped_frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.dropped, schema={"dropped": pl.String, "kept": pl.String, "corr": pl.Float64})

    def to_dict(self) -> dict:
        return {"dropped": self.dropped, "importances": self.importances, "kept": self.kept,
                "corr_threshold": self.corr_threshold, "top_n": self.top_n, "horizon": self.horizon,
                "rows": self.rows, "model": self.model}


def correlation_matrix(df: pl.DataFrame, cols: list[str]) -> np.ndarray:
    """Pearson correlation on rows where every column is finite; constant columns correlate 0."""
    x = df.select([pl.col(c).cast(pl.Float64) for c in cols]).to_numpy()
    x = x[np.isfinite(x).all(axis=1)]
    if len(x) < 2:
        return np.eye(len(cols))
    x = x - x.mean(axis=0)
    sd = np.sqrt((x * x).mean(axis=0))
    ok = sd > 1e-12
    z = np.where(ok, x / np.where(ok, sd, 1.0), 0.0)
    c = (z.T @ z) / len(z)
    np.fill_diagonal(c, 1.0)
    return np.clip(c, -1.0, 1.0)


def select_features(df: pl.DataFrame, feature_cols: list[str], corr_threshold: float = 0.95, top_n: int = 20,
                    horizon: int = 1, model: str = "extra_trees", max_rows: int = 20000, seed: int = 0
                    ) -> SelectionReport:
    """Step 1: walk the columns in order; a column whose |corr| with an already kept column is
    above ``corr_threshold`` is dropped (the pair is reported). Step 2: fit a tree ensemble on
    the kept columns against ln(C_{t+h} / C_t) and keep the ``top_n`` most important."""
    from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor

    if not feature_cols:
        raise SpecError("feature selection needs at least one feature column")
    if not 0 < corr_threshold <= 1:
        raise SpecError(f"corr_threshold must be in (0, 1], got {corr_threshold}")
    if top_n < 1 or horizon < 1:
        raise SpecError("top_n and horizon must be at least 1")
    missing = [c for c in feature_cols if c not in df.columns]
    if missing:
        raise SpecError(f"column(s) {missing} are not in the frame")
    corr = correlation_matrix(df, feature_cols)
    kept: list[int] = []
    dropped = []
    for j in range(len(feature_cols)):
        hit = next((i for i in kept if abs(corr[i, j]) > corr_threshold), None)
        if hit is None:
            kept.append(j)
        else:
            dropped.append({"dropped": feature_cols[j], "kept": feature_cols[hit], "corr": float(corr[hit, j])})
    cand = [feature_cols[j] for j in kept]
    data = df.select(*[pl.col(c).cast(pl.Float64) for c in cand],
                     (pl.col("close").shift(-horizon) / pl.col("close")).log().alias("_y"))
    x = data.select(cand).to_numpy()
    y = data["_y"].to_numpy()
    ok = np.isfinite(x).all(axis=1) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(y) < 10:
        raise SpecError(f"too few rows ({len(y)}) with a forward return to rank features; choose a longer range")
    if len(y) > max_rows:  # an evenly spaced subsample keeps the ranking fast on long histories
        idx = np.linspace(0, len(y) - 1, max_rows).astype(int)
        x, y = x[idx], y[idx]
    cls = ExtraTreesRegressor if model == "extra_trees" else RandomForestRegressor
    est = cls(n_estimators=100, max_depth=8, min_samples_leaf=5, random_state=seed, n_jobs=1).fit(x, y)
    order = np.argsort(-est.feature_importances_, kind="stable")
    imps = [{"feature": cand[i], "importance": float(est.feature_importances_[i])} for i in order]
    return SelectionReport(dropped=dropped, importances=imps, kept=[r["feature"] for r in imps[:top_n]],
                           corr_threshold=corr_threshold, top_n=top_n, horizon=horizon, rows=int(len(y)),
                           model=model)
