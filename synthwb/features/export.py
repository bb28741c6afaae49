"""Export a feature set as a Hugging Face ``datasets`` dataset on disk in the uni2ts/GluonTS
multivariate layout: one row per exported split with

- ``item_id`` (str), ``start`` (timestamp of the first bar), ``freq`` (pandas alias),
- ``target``: (n_targets, T) float32 -- by default the close price,
- ``feat_dynamic_real``: (n_known, T) -- covariates known in advance (calendar),
- ``past_feat_dynamic_real``: (n_past, T) -- every other feature, known only up to now.

Written to a temp folder beside ``path`` and renamed into place, so a failed export leaves
nothing behind.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from synthwb.core.errors import SpecError
from synthwb.features.datasets import SPLITS
from synthwb.features.registry import FEATURES, makes_of

PANDAS_FREQ = {"1min": "min", "5min": "5min", "15min": "15min", "1h": "h", "4h": "4h", "1d": "D"}


def known_ahead_columns(fs) -> list[str]:
    """Feature columns known ahead of time (calendar), among the set's feature columns."""
    spec = fs.feature_spec
    known: set[str] = set()
    for it in spec.features:
        entry = FEATURES.get(it.name)
        if entry.meta.get("known_ahead"):
            known.update(makes_of(entry, it.params, spec.references))
    return [c for c in fs.feature_cols if c in known]


def export_gluonts(fs, path, splits=("train", "val", "test"), target_cols=("close",), scaled: bool = True,
                   root=None) -> Path:
    """Write the dataset; returns its path. Covariates are scaled with the stored scaler; the
    target stays in prices."""
    from datasets import Dataset, Features, Sequence, Value

    bad = [s for s in splits if s not in (*SPLITS, "all")]
    if bad or not splits:
        raise SpecError(f"unknown split(s) {bad or list(splits)}; use {', '.join((*SPLITS, 'all'))}")
    frame = fs.frame(root)
    parts = {"all": frame} if "all" in splits else {}
    parts.update({k: v for k, v in fs.splits(root).items() if k in splits})
    missing = [c for c in target_cols if c not in frame.columns]
    if missing:
        raise SpecError(f"target column(s) {missing} are not in the feature frame")
    known = known_ahead_columns(fs)
    past = [c for c in fs.feature_cols if c not in known and c not in target_cols]
    scaler = fs.scaler_obj
    rows = {"item_id": [], "start": [], "freq": [], "target": [], "feat_dynamic_real": [], "past_feat_dynamic_real": []}
    for split in splits:
        df = parts[split]
        if df.is_empty():
            continue
        cov = scaler.transform(df, known + past) if scaled and (known or past) else df
        rows["item_id"].append(f"{fs.sel.symbol}:{fs.name}:{split}")
        rows["start"].append(df["ts"][0].replace(tzinfo=None))
        rows["freq"].append(PANDAS_FREQ[fs.freq])
        rows["target"].append(df.select(target_cols).to_numpy().T.astype(np.float32).tolist())
        rows["feat_dynamic_real"].append(cov.select(known).to_numpy().T.astype(np.float32).tolist())
        rows["past_feat_dynamic_real"].append(cov.select(past).to_numpy().T.astype(np.float32).tolist())
    if not rows["item_id"]:
        raise SpecError(f"the split(s) {list(splits)} hold no rows")
    features = Features({
        "item_id": Value("string"), "start": Value("timestamp[s]"), "freq": Value("string"),
        "target": Sequence(Sequence(Value("float32"))),
        "feat_dynamic_real": Sequence(Sequence(Value("float32"))),
        "past_feat_dynamic_real": Sequence(Sequence(Value("float32"))),
    })
    ds = Dataset.from_dict(rows, features=features)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        ds.save_to_disk(str(tmp / "ds"))
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            path.rename(old)
            (tmp / "ds").rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            (tmp / "ds").rename(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path
