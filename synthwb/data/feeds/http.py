"""The feeds' HTTP client: httpx with retries, exponential backoff with jitter, the server's
``Retry-After`` on 429 (and Binance's 418 ban), a minimum pace between requests, and errors that
say what happened and what to do.

- 200 and 404 are answers (a 404 is "no such archive": the caller falls back to another route);
- 429 / 418 wait ``Retry-After`` seconds (or the backoff when absent) and retry; a wait longer
  than ``max_retry_after`` is not waited for: the fetch stops with the time to come back;
- 5xx and dropped connections or timeouts retry with backoff ``backoff * 2**k`` (+ up to 25 %
  jitter, at most ``max_backoff``);
- any other status is refused at once with the start of the body.

Every wait ends early when ``stop_event`` is set (:class:`Stopped`).
"""
from __future__ import annotations

import random
import threading
import time
from urllib.parse import urlsplit

import httpx

from synthwb.core.errors import DataError

USER_AGENT = "synthwb-feeds/1"


class FeedError(DataError):
    """A feed could not deliver (rate limit, server error, damaged archive, unreachable host)."""


class Stopped(DataError):
    """The user asked the fetch to stop."""


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _snippet(resp: httpx.Response) -> str:
    try:
        text = resp.text
    except (UnicodeDecodeError, httpx.HTTPError):
        return ""
    text = " ".join(text.split())
    return text[:160]


def _retry_after(resp: httpx.Response) -> float | None:
    v = resp.headers.get("Retry-After")
    if v is None:
        return None
    try:
        return max(float(v), 0.0)
    except ValueError:
        return None


class FeedClient:
    """One httpx client shared by a fetch (connection reuse), with the retry rules above."""

    def __init__(self, *, retries: int = 5, backoff: float = 1.0, max_backoff: float = 30.0,
                 max_retry_after: float = 120.0, pace: float = 0.0, timeout: float = 30.0,
                 stop_event: threading.Event | None = None, transport: httpx.BaseTransport | None = None):
        self.retries, self.backoff, self.max_backoff = int(retries), float(backoff), float(max_backoff)
        self.max_retry_after, self.pace = float(max_retry_after), float(pace)
        self.stop_event = stop_event or threading.Event()
        self.requests = 0
        self._last = 0.0
        self._client = httpx.Client(timeout=timeout, headers={"User-Agent": USER_AGENT}, transport=transport,
                                    follow_redirects=True)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> FeedClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def wait(self, seconds: float) -> None:
        if seconds > 0 and self.stop_event.wait(seconds):
            raise Stopped("stopped by the user")
        if self.stop_event.is_set():
            raise Stopped("stopped by the user")

    def _delay(self, attempt: int) -> float:
        d = min(self.backoff * (2 ** attempt), self.max_backoff)
        return d * (1 + 0.25 * random.random())

    def request(self, method: str, url: str, *, params: dict | None = None, json: dict | None = None,
                what: str = "") -> httpx.Response:
        """The response (status 200 or 404), after the retries the rules allow."""
        host = _host(url)
        label = what or url
        waited = 0.0
        last = ""
        for attempt in range(self.retries + 1):
            self.wait(self._last + self.pace - time.monotonic())
            self._last = time.monotonic()
            self.requests += 1
            try:
                resp = self._client.request(method, url, params=params, json=json)
            except httpx.TransportError as exc:  # refused, reset, dropped mid-answer, timed out
                last = f"{type(exc).__name__}: {' '.join(str(exc).split())[:120] or 'connection lost'}"
                if attempt == self.retries:
                    raise FeedError(f"{host} did not answer {label} ({last}) after {attempt + 1} tries; check the "
                                    "network and the base URL, then run the fetch again (complete partitions "
                                    "are kept)") from None
                d = self._delay(attempt)
                waited += d
                self.wait(d)
                continue
            code = resp.status_code
            if code in (200, 404):
                return resp
            if code in (429, 418):
                ra = _retry_after(resp)
                kind = "429 Too Many Requests (rate limit)" if code == 429 else "418 (rate-limit ban of this IP)"
                if ra is not None and ra > self.max_retry_after:
                    raise FeedError(f"{host} answered {kind} for {label} and asks to wait {ra:.0f} s (Retry-After); "
                                    f"run the fetch again after that (complete partitions are kept)")
                if attempt == self.retries:
                    raise FeedError(f"{host} answered {kind} {attempt + 1} times in a row for {label}, "
                                    f"{waited:.1f} s of waiting as it asked; wait a few minutes and run the fetch "
                                    "again (complete partitions are kept, nothing partial was written)")
                d = ra if ra is not None else self._delay(attempt)
                waited += d
                self.wait(d)
                continue
            last = f"{code} {resp.reason_phrase}".strip()
            body = _snippet(resp)
            if code >= 500:
                if attempt == self.retries:
                    raise FeedError(f"{host} answered {last} {attempt + 1} times for {label}"
                                    f"{f' ({body!r})' if body else ''}; the service has trouble: try again later "
                                    "(complete partitions are kept, nothing partial was written)")
                d = self._delay(attempt)
                waited += d
                self.wait(d)
                continue
            raise FeedError(f"{host} refused {label}: {last}{f' ({body!r})' if body else ''}")
        raise AssertionError("unreachable")

    def get(self, url: str, *, params: dict | None = None, what: str = "") -> httpx.Response:
        return self.request("GET", url, params=params, what=what)

    def post_json(self, url: str, body: dict, *, what: str = "") -> httpx.Response:
        return self.request("POST", url, json=body, what=what)


def json_list(resp: httpx.Response, *, who: str, what: str, endpoint: str, env_var: str) -> list:
    """The JSON list a feed answers with; a 404, a body that is not JSON or an error object
    (Binance's ``{"code", "msg"}``) is refused saying which."""
    if resp.status_code == 404:
        raise FeedError(f"{_host(str(resp.request.url))} has no {endpoint} (404); check ${env_var}")
    try:
        rows = resp.json()
    except ValueError:
        raise FeedError(f"{who} answered {what} with something that is not JSON") from None
    if not isinstance(rows, list):
        msg = rows.get("msg") if isinstance(rows, dict) else None
        raise FeedError(f"{who} refused {what}: {msg or str(rows)[:160]}")
    return rows
