"""Market data: the Parquet lake, sources, cleaning and resampling."""
from synthwb.data.schema import ASSET_CLASSES, COLUMNS, FREQ_SECONDS, FREQS, OHLCV, Selection  # noqa: F401
