"""Pooled training over symbols: more training windows for a short series from other series of
the same bar size and features (``TrainConfig.pool``: saved feature set names; ``train --pool``,
the Train page's "Pool training with").

The run's own feature set stays the primary: its validation split alone chooses the checkpoint,
the calibration and the blend, and the run forecasts its symbol. The pooled feature sets only
add training windows:

- each keeps its own scaling (its scaler and fitted anchor, from its own training split): the
  per-asset scaling that lets a 1.08 EURUSD and a 60 000 BTC share one network (the anchored
  presets also work in returns relative to each window's own variance forecast);
- a pooled window's future ends no later than the last future the primary trains on (the end
  of its training split), so nothing the validation or test periods hold reaches the network
  through another symbol (the same hours of a correlated asset would tell it the regime);
- a pooled feature set must have been fitted on bars no later than the primary's (its
  ``fit_end``), for the same reason; the fix is to build it with the primary's ``--val-start``;
- every window of a pooled set before that end is used, at the stride that gives about as many
  windows as the primary's automatic stride would (``stride`` when set): an epoch grows with
  each pooled set.

Why: on days of minute bars or a few months of hourly bars, one series gives the network little
to learn from; pooling is the standard answer (global models, e.g. DeepAR's training over
related series).
"""
from __future__ import annotations

from datetime import UTC, datetime

from synthwb.core.errors import DataError, SpecError
from synthwb.features.featureset import FeatureSet, resolve_featureset
from synthwb.train.data import PooledWindows, WindowDataset, ending_by, future_end


def _when(iso: str | None) -> datetime | None:
    return datetime.fromisoformat(iso) if iso else None


def pool_featuresets(fs: FeatureSet, names: list[str], store=None) -> list[FeatureSet]:
    """The pooled feature sets of a run on ``fs``, checked against it; SpecError naming the
    problem and the fix."""
    out, seen = [], set()
    for name in names:
        if name == fs.name:
            raise SpecError(f"--pool {name}: that is the run's own feature set; pool other symbols' feature sets")
        if name in seen:
            raise SpecError(f"--pool names {name!r} twice")
        seen.add(name)
        other = resolve_featureset(name, store)
        a, b = fs.sel, other.sel
        if (a.asset_class, a.symbol) == (b.asset_class, b.symbol):
            raise SpecError(f"pooled feature set {name!r} is the same series ({b.asset_class}/{b.symbol}) as the "
                            "run's: it adds no data; pool other symbols")
        if a.freq != b.freq:
            raise SpecError(f"pooled feature set {name!r} has {b.freq} bars, the run's has {a.freq}; pool feature "
                            f"sets of {a.freq} bars")
        if list(other.feature_cols) != list(fs.feature_cols):
            missing = sorted(set(fs.feature_cols) - set(other.feature_cols))
            extra = sorted(set(other.feature_cols) - set(fs.feature_cols))
            raise SpecError(f"pooled feature set {name!r} has other features than the run's ({fs.name!r})"
                            + (f"; it lacks {', '.join(missing[:5])}" if missing else "")
                            + (f"; it adds {', '.join(extra[:5])}" if extra else "")
                            + "; build it with the same feature spec")
        mine, theirs = _when(fs.fit_end), _when(other.fit_end)
        if mine is not None and theirs is not None and theirs > mine:
            raise SpecError(f"pooled feature set {name!r} was fitted on bars up to {theirs:%Y-%m-%d %H:%M}, after the "
                            f"run's training split ends ({mine:%Y-%m-%d %H:%M}): its scaling has seen the run's "
                            f"validation period; rebuild it with --val-start {mine:%Y-%m-%dT%H:%M}")
        out.append(other)
    return out


def pooled_training(primary: WindowDataset, fs: FeatureSet, names: list[str], context: int, horizon: int,
                    step_seconds: int, stride: int, auto_windows: int, store=None, root=None) -> PooledWindows:
    """The primary's training windows plus every pooled feature set's windows whose future ends
    by the primary's last training future."""
    end = future_end(primary, horizon * step_seconds)
    members, labels = [primary], [fs.name]
    for other in pool_featuresets(fs, names, store):
        rows = sum(int(v) for v in (other.rows or {}).values())
        w = other.windows("all", context, horizon, stride or max(1, rows // auto_windows), root=root,
                          step_seconds=step_seconds)
        ds = ending_by(WindowDataset(w, name=f"{other.name} windows"), end, horizon * step_seconds)
        if len(ds) == 0:
            raise DataError(f"pooled feature set {other.name!r} has no complete windows that end by "
                            f"{datetime.fromtimestamp(end, UTC):%Y-%m-%d %H:%M} (the end of the run's training split)"
                            "; pool a series with earlier history")
        members.append(ds)
        labels.append(other.name)
    return PooledWindows(members, labels)


def pool_summary(ds: WindowDataset) -> list[dict] | None:
    """run.json's ``pool``: the training windows each feature set gave (None when not pooled)."""
    if not isinstance(ds, PooledWindows):
        return None
    return [{"featureset": n, "windows": s} for n, s in zip(ds.names, ds.sizes)]


def pool_text(pool: list[dict] | None) -> str:
    """One line on a run's pooled training for the CLI and the pages ("" when not pooled)."""
    if not pool:
        return ""
    parts = ", ".join(f"{p['featureset']} {p['windows']:,}" for p in pool)
    return f"pooled training windows: {parts} (the first is the run's own series)"
