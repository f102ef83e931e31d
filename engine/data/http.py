"""GET JSON over HTTP for the market-data clients: timeouts, retries, and no leaked keys.

Also the checks every client shares: where its API key comes from, its base URL, a ticker.

Transient failures (HTTP 429 and 5xx, timeouts, dropped connections) are retried with
exponential back-off, or after the server's Retry-After when it sends one. Every error
names the URL with its credentials masked and carries no exception chain, so neither a
message nor a traceback can show an API key (urllib's own exceptions hold the full URL).
"""
from __future__ import annotations

import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

from engine.config import load_settings

log = logging.getLogger(__name__)

MASK = "***"
# Query parameters that carry credentials in the services we call.
SECRET_PARAMS = frozenset({"apikey", "api_key", "token", "access_token", "key"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "futbot/0.1 (+urllib)"
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.:_\-]{0,31}$")   # 32: the caches' symbol column
_DETAIL_CHARS = 300   # of an error body quoted in a message


class DataSourceError(RuntimeError):
    """A market-data service could not give what was asked (bad key, HTTP error, bad payload)."""


class MissingApiKeyError(DataSourceError):
    """No API key was passed and its environment variable is unset or empty."""


class HttpError(DataSourceError):
    """A request failed; `url` has its credentials masked, `status` is None without a response."""

    def __init__(self, message: str, *, url: str, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.attempts = attempts


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`max_retries` retries after the first attempt; the n-th waits backoff * 2**(n-1) s."""

    max_retries: int = 6      # 1+2+...+32 s rides out a per-minute rate limit
    backoff: float = 1.0
    max_wait: float = 60.0    # cap on any one wait, Retry-After included

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"RetryPolicy max_retries must be >= 0, got {self.max_retries}")
        if self.backoff < 0 or self.max_wait < 0:
            raise ValueError(f"RetryPolicy waits must be >= 0, got backoff={self.backoff}, max_wait={self.max_wait}")

    def wait(self, retry: int, retry_after: float | None) -> float:
        """Seconds to sleep before retry number `retry` (1-based)."""
        wanted = retry_after if retry_after is not None else self.backoff * 2 ** (retry - 1)
        return min(max(wanted, 0.0), self.max_wait)


def api_key_from(given: str | None, env: str, service: str) -> str:
    """The key passed in, else the environment variable `env`; never echoed in the error."""
    key = (given if given is not None else os.environ.get(env, "")).strip()
    if not key:
        raise MissingApiKeyError(f"no {service} API key: pass api_key= or set the {env} environment variable")
    return key


def check_base_url(base_url: str) -> str:
    """An http(s) service root without query or fragment, trailing slash removed."""
    parts = urlsplit(base_url) if isinstance(base_url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"base_url {base_url!r} is not valid; expected e.g. 'https://api.polygon.io'")
    return base_url.rstrip("/")


def json_client(
    timeout: float | None,
    max_retries: int | None,
    *,
    secrets: Iterable[str],
    sleep: Callable[[float], None] = time.sleep,
    headers: Mapping[str, str] | None = None,
) -> "JsonHttpClient":
    """A JsonHttpClient; a timeout or retry count left None comes from settings `data`."""
    if timeout is None or max_retries is None:
        data = load_settings().data
        timeout = data.http_timeout_seconds if timeout is None else timeout
        max_retries = data.http_max_retries if max_retries is None else max_retries
    return JsonHttpClient(
        timeout=timeout, retry=RetryPolicy(max_retries=max_retries), headers=headers, secrets=secrets, sleep=sleep,
    )


def check_symbol(symbol: str) -> str:
    """The ticker in upper case: 'AAPL', 'BRK.B', 'X:BTCUSD', 'BINANCE:BTCUSDT'."""
    ticker = symbol.strip().upper() if isinstance(symbol, str) else ""
    if not _SYMBOL.match(ticker):
        raise ValueError(
            f"symbol {symbol!r} is not a ticker; expected letters, digits and . : _ - (e.g. 'QQQ', 'X:BTCUSD')"
        )
    return ticker


def redact_url(url: str, secrets: Iterable[str] = ()) -> str:
    """The URL with credential query parameters and any known secret values masked."""
    parts = urlsplit(url)
    query = [(k, MASK if k.lower() in SECRET_PARAMS else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    masked = urlunsplit(parts._replace(query=urlencode(query, safe="*:/")))
    return scrub(masked, secrets)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with each secret masked, as written and as it would be percent-encoded."""
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe=""), quote_plus(secret, safe="")}:
                text = text.replace(form, MASK)
    return text


class JsonHttpClient:
    """GETs JSON documents with fixed headers, timeout and retry policy.

    `secrets` are values (API keys) masked wherever a URL or a response body is quoted.
    `sleep` is injectable so tests need not wait out back-offs.
    """

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy = RetryPolicy(),
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"HTTP timeout must be > 0 seconds, got {timeout}")
        self.timeout = timeout
        self.retry = retry
        self._headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
        self._secrets = tuple(s for s in secrets if s)
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"JsonHttpClient(timeout={self.timeout}, retry={self.retry})"

    def redact(self, text: str) -> str:
        return scrub(text, self._secrets)

    def get_json(self, url: str, params: Mapping[str, str] | None = None) -> Any:
        """The decoded JSON body of GET url?params; HttpError after the last failed attempt."""
        if params:
            url = f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(params)}"
        shown = redact_url(url, self._secrets)
        if urlsplit(url).scheme not in ("http", "https"):
            # urllib's own error would quote the unmasked URL.
            raise ValueError(f"URL {shown!r} is not http:// or https://")
        attempt = 0
        while True:
            attempt += 1
            outcome = self._attempt(url)
            if isinstance(outcome, _Body):
                return self._decode(outcome.data, shown)
            if not outcome.retryable:
                raise HttpError(f"GET {shown}: {outcome.problem}", url=shown, status=outcome.status, attempts=attempt)
            if attempt > self.retry.max_retries:
                raise HttpError(
                    f"GET {shown} failed after {attempt} attempt{'s' if attempt > 1 else ''}: {outcome.problem}",
                    url=shown, status=outcome.status, attempts=attempt,
                )
            wait = self.retry.wait(attempt, outcome.retry_after)
            log.warning("GET %s: %s; retry %d of %d in %.2f s", shown, outcome.problem, attempt,
                        self.retry.max_retries, wait)
            self._sleep(wait)

    def _attempt(self, url: str) -> "_Body | _Failure":
        request = urllib.request.Request(url, headers=self._headers, method="GET")
        # Failures are turned into values here and raised by the caller outside any
        # `except`, so no urllib exception (which holds the unmasked URL) is chained.
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return _Body(response.read())
        except urllib.error.HTTPError as exc:
            detail = self.redact(_detail(_read_and_close(exc)))
            problem = f"HTTP {exc.code} {exc.reason}" + (f": {detail}" if detail else "")
            retry_after = _retry_after(exc.headers.get("Retry-After"))
            return _Failure(problem, exc.code, exc.code in RETRY_STATUSES, retry_after)
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                return _Failure(f"timed out after {self.timeout} s", None, True, None)
            # An OSError (refused, reset, DNS) may pass; anything else (a bad URL) will not.
            return _Failure(f"connection failed: {self.redact(str(reason))}", None, isinstance(reason, OSError), None)
        except TimeoutError:
            return _Failure(f"timed out after {self.timeout} s", None, True, None)
        except (http.client.HTTPException, ConnectionError) as exc:
            return _Failure(f"connection broken: {type(exc).__name__}", None, True, None)

    def _decode(self, data: bytes, shown: str) -> Any:
        problem: str | None = None
        try:
            return json.loads(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            problem = f"response is not UTF-8 text (byte {exc.start})"
        except json.JSONDecodeError as exc:
            problem = f"response is not valid JSON ({exc.msg} at char {exc.pos})"
        snippet = self.redact(data[:_DETAIL_CHARS].decode("utf-8", errors="replace"))
        raise HttpError(f"GET {shown}: {problem}: {snippet!r}", url=shown, status=200)


@dataclass(frozen=True, slots=True)
class _Body:
    data: bytes


@dataclass(frozen=True, slots=True)
class _Failure:
    problem: str
    status: int | None
    retryable: bool
    retry_after: float | None


def _read_and_close(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read()
    except (OSError, http.client.HTTPException):
        return b""
    finally:
        exc.close()


def _detail(body: bytes) -> str:
    """The service's own error text: the JSON `error`/`message` field, else the body's start."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        document = json.loads(text)
    except ValueError:
        return text[:_DETAIL_CHARS]
    if isinstance(document, dict):
        for key in ("error", "message", "status"):
            if isinstance(document.get(key), str) and document[key]:
                return document[key][:_DETAIL_CHARS]
    return text[:_DETAIL_CHARS]


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0)
