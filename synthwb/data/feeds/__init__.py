"""Bars from the Synth validator's own price feeds: Binance spot (bulk archives + REST klines) and
Hyperliquid (``candleSnapshot``), fetched into the lake and kept current.

- :mod:`.assets`: the one table of validator asset -> feed and feed symbol;
- :mod:`.http`: the HTTP client (httpx) with retries, backoff, Retry-After and a request pace;
- :mod:`.binance`, :mod:`.hyperliquid`: each feed's formats;
- :mod:`.fetch`: resumable fetches written partition by partition, the manifest, ``update``.
"""
