"""Feature Lab engine: registry, indicators, micro-structure, regimes, cross-asset features,
selection, scaling, splits/windows, saved feature sets and the uni2ts/GluonTS export.

Names are imported lazily (``from synthwb.features import build_features`` works) so that
``python -m synthwb --help`` does not pay for polars and scikit-learn.
"""
from __future__ import annotations

from synthwb.core.lazy import lazy_exports

_EXPORTS = {
    "build_features": "compute", "compute_features": "compute",
    "SplitSpec": "datasets", "Windows": "datasets", "make_windows": "datasets", "split_frame": "datasets",
    "FeatureSet": "featureset", "create_featureset": "featureset", "delete_featureset": "featureset",
    "list_featuresets": "featureset", "load_featureset": "featureset", "save_featureset": "featureset",
    "FEATURES": "registry", "FeatureContext": "registry", "FeatureSpec": "registry", "default_spec": "registry",
    "Scaler": "scaling", "select_features": "selection", "SelectionReport": "selection",
    "export_gluonts": "export",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
