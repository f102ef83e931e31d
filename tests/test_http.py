"""JsonHttpClient against a real local server: retries, back-off, timeouts, masked keys."""
from __future__ import annotations

import logging
import socket
import traceback
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from urllib.parse import parse_qs, quote, quote_plus, urlencode, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.data.http import (
    MASK, HttpError, JsonHttpClient, MissingApiKeyError, RetryPolicy, api_key_from, check_base_url,
    check_symbol, redact_url, scrub,
)
from fake_http import FakeService, Reply, Seen, json_reply

KEY = "sk_SECRET_7f3a9c1e5b"


class Sleeps(list):
    """An injectable sleep that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _client(max_retries: int = 3, timeout: float = 2.0, backoff: float = 1.0, max_wait: float = 60.0,
            sleeps: Sleeps | None = None) -> JsonHttpClient:
    return JsonHttpClient(
        timeout=timeout, retry=RetryPolicy(max_retries=max_retries, backoff=backoff, max_wait=max_wait),
        secrets=(KEY,), sleep=sleeps if sleeps is not None else Sleeps(),
    )


def _script(*replies: Reply):
    """Answer with the replies in order, repeating the last one."""
    def respond(seen: Seen) -> Reply:
        index = min(len(respond.served), len(replies) - 1)   # type: ignore[attr-defined]
        respond.served.append(seen)                           # type: ignore[attr-defined]
        return replies[index]
    respond.served = []                                       # type: ignore[attr-defined]
    return respond


def _everything_said(exc: BaseException) -> str:
    """Message, repr, attributes and the full traceback text with its chain."""
    return "\n".join([str(exc), repr(exc), str(vars(exc)), *traceback.format_exception(exc)])


def test_get_json_decodes_the_body_and_sends_params_and_headers() -> None:
    with FakeService(_script(json_reply({"a": [1, 2.5, "x"]}))) as server:
        got = _client().get_json(f"{server.url}/v1/thing", {"symbol": "AAPL", "n": "3"})
    assert got == {"a": [1, 2.5, "x"]}
    (seen,) = server.requests
    assert seen.path == "/v1/thing" and seen.query == {"symbol": "AAPL", "n": "3"}
    assert seen.headers["accept"] == "application/json" and seen.headers["user-agent"].startswith("futbot/")


def test_params_are_appended_to_a_url_that_already_has_a_query() -> None:
    with FakeService(_script(json_reply([]))) as server:
        _client().get_json(f"{server.url}/next?cursor=abc", {"apiKey": KEY})
    assert server.requests[0].query == {"cursor": "abc", "apiKey": KEY}


def test_429_then_success_waits_the_retry_after_and_returns() -> None:
    sleeps = Sleeps()
    script = _script(json_reply({"error": "slow down"}, 429, **{"Retry-After": "0"}), json_reply({"ok": True}))
    with FakeService(script) as server:
        got = _client(sleeps=sleeps).get_json(server.url + "/x")
    assert got == {"ok": True}
    assert len(server.requests) == 2 and sleeps == [0.0]


def test_retry_after_seconds_are_honoured_over_the_backoff() -> None:
    sleeps = Sleeps()
    script = _script(json_reply({}, 429, **{"Retry-After": "7"}), json_reply({}))
    with FakeService(script) as server:
        _client(sleeps=sleeps, backoff=0.5).get_json(server.url)
    assert sleeps == [7.0]


def test_retry_after_as_an_http_date_waits_until_then() -> None:
    sleeps = Sleeps()
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    script = _script(json_reply({}, 503, **{"Retry-After": when}), json_reply({}))
    with FakeService(script) as server:
        _client(sleeps=sleeps).get_json(server.url)
    assert len(sleeps) == 1 and 27.0 <= sleeps[0] <= 30.0


def test_without_retry_after_waits_double_each_time_up_to_the_cap() -> None:
    sleeps = Sleeps()
    with FakeService(_script(json_reply({}, 502))) as server, pytest.raises(HttpError):
        _client(max_retries=5, backoff=1.0, max_wait=6.0, sleeps=sleeps).get_json(server.url)
    assert sleeps == [1.0, 2.0, 4.0, 6.0, 6.0]
    assert len(server.requests) == 6


def test_500_is_retried_then_raises_naming_status_and_attempts() -> None:
    with FakeService(_script(json_reply({"error": "boom"}, 500))) as server:
        with pytest.raises(HttpError) as caught:
            _client(max_retries=2).get_json(server.url + "/agg")
    assert len(server.requests) == 3
    err = caught.value
    assert err.status == 500 and err.attempts == 3
    assert "failed after 3 attempts" in str(err) and "HTTP 500" in str(err) and "boom" in str(err)
    assert "/agg" in err.url


def test_404_is_not_retried_and_quotes_the_services_error() -> None:
    with FakeService(_script(json_reply({"status": "NOT_FOUND", "message": "no such ticker"}, 404))) as server:
        with pytest.raises(HttpError) as caught:
            _client().get_json(server.url)
    assert len(server.requests) == 1
    assert caught.value.status == 404 and "no such ticker" in str(caught.value)


def test_a_slow_server_times_out_is_retried_then_raises() -> None:
    with FakeService(_script(Reply(200, {"late": True}, delay=0.6))) as server:
        with pytest.raises(HttpError) as caught:
            _client(max_retries=1, timeout=0.1).get_json(server.url)
    assert len(server.requests) == 2
    assert caught.value.status is None and "timed out after 0.1 s" in str(caught.value)


def test_a_slow_answer_then_a_quick_one_succeeds() -> None:
    script = _script(Reply(200, {"n": 1}, delay=0.6), json_reply({"n": 2}))
    with FakeService(script) as server:
        assert _client(max_retries=1, timeout=0.1).get_json(server.url) == {"n": 2}


def test_malformed_json_raises_without_retrying() -> None:
    with FakeService(_script(Reply(200, b'{"results": [1, 2'))) as server:
        with pytest.raises(HttpError) as caught:
            _client().get_json(server.url)
    assert len(server.requests) == 1
    assert "not valid JSON" in str(caught.value) and '{"results": [1, 2' in str(caught.value)


def test_a_refused_connection_is_retried_then_raises() -> None:
    with socket.socket() as sock:   # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = Sleeps()
    with pytest.raises(HttpError) as caught:
        _client(max_retries=2, sleeps=sleeps).get_json(f"http://127.0.0.1:{port}/x")
    assert caught.value.status is None and "connection failed" in str(caught.value)
    assert len(sleeps) == 2


def test_a_non_http_url_is_refused_without_showing_the_key() -> None:
    with pytest.raises(ValueError) as caught:
        _client().get_json(f"ftp://example.com/x?apiKey={KEY}")
    assert "is not http" in str(caught.value) and KEY not in _everything_said(caught.value)


@pytest.mark.parametrize("reply", [
    json_reply({"error": "Unknown API Key"}, 401),
    json_reply({"error": "over the limit"}, 429, **{"Retry-After": "0"}),
    json_reply({"error": "internal"}, 500),
    Reply(200, b"<html>not json</html>"),
    Reply(200, {"late": True}, delay=0.5),
])
def test_no_error_or_log_shows_the_key(reply: Reply, caplog: pytest.LogCaptureFixture) -> None:
    def echo(seen: Seen) -> Reply:
        # The worst case: a service that quotes the request, key and all, in its answer.
        if isinstance(reply.body, dict):
            return Reply(reply.status, {**reply.body, "error": f"{reply.body['error']} for {seen.raw_path}"},
                         reply.headers, reply.delay)
        if isinstance(reply.body, bytes):
            return Reply(reply.status, reply.body + seen.raw_path.encode(), reply.headers, reply.delay)
        return reply
    caplog.set_level(logging.DEBUG)
    with FakeService(echo) as server:
        with pytest.raises(HttpError) as caught:
            _client(max_retries=1, timeout=0.1).get_json(f"{server.url}/v2/aggs", {"apiKey": KEY})
    assert server.requests[0].query["apiKey"] == KEY   # it was sent ...
    said = _everything_said(caught.value)
    assert KEY not in said and MASK in said            # ... and never shown
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert all(KEY not in record.getMessage() for record in caplog.records)


def test_redact_url_masks_credential_parameters_and_known_secrets() -> None:
    url = f"https://api.polygon.io/v2/aggs/ticker/AAPL?adjusted=true&apiKey={KEY}&token=t0k"
    shown = redact_url(url)
    assert "adjusted=true" in shown and KEY not in shown and "t0k" not in shown
    assert redact_url(f"https://x.io/p/{KEY}/q", [KEY]) == f"https://x.io/p/{MASK}/q"


_SECRETS = st.text(
    st.characters(blacklist_characters="<>*", blacklist_categories=("Cs", "Cc")), min_size=8, max_size=40,
).filter(lambda s: s.strip() == s)


@given(_SECRETS)
def test_a_secret_in_a_query_is_masked_however_it_is_spelled(secret: str) -> None:
    url = "https://api.example.com/v1/x?" + urlencode({"q": "1", "apiKey": secret})
    query = parse_qs(urlsplit(redact_url(url)).query)
    assert query == {"q": ["1"], "apiKey": [MASK]}


@given(_SECRETS)
def test_a_secret_quoted_in_text_is_masked_raw_and_percent_encoded(secret: str) -> None:
    text = f"<<{secret}>><<{quote(secret, safe='')}>><<{quote_plus(secret)}>>"
    assert scrub(text, [secret]) == f"<<{MASK}>>" * 3


@given(st.integers(1, 30), st.floats(0.0, 10.0), st.floats(0.0, 100.0),
       st.one_of(st.none(), st.floats(0.0, 1e6)))
def test_a_wait_is_never_negative_nor_above_the_cap(retry: int, backoff: float, cap: float,
                                                      retry_after: float | None) -> None:
    wait = RetryPolicy(max_retries=30, backoff=backoff, max_wait=cap).wait(retry, retry_after)
    assert 0.0 <= wait <= cap
    if retry_after is None:
        assert wait == min(backoff * 2 ** (retry - 1), cap)
    else:
        assert wait == min(retry_after, cap)


def test_retry_policy_refuses_negative_values() -> None:
    with pytest.raises(ValueError, match="max_retries must be >= 0, got -1"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="backoff=-1"):
        RetryPolicy(backoff=-1)


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout must be > 0 seconds, got 0"):
        JsonHttpClient(timeout=0)


def test_api_key_comes_from_the_argument_else_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_KEY", f"  {KEY}\n")
    assert api_key_from(None, "SOME_KEY", "Svc") == KEY
    assert api_key_from("given", "SOME_KEY", "Svc") == "given"
    monkeypatch.setenv("SOME_KEY", "")
    with pytest.raises(MissingApiKeyError, match="no Svc API key: pass api_key= or set the SOME_KEY"):
        api_key_from(None, "SOME_KEY", "Svc")


@pytest.mark.parametrize("url", ["api.polygon.io", "ftp://x.io", "https://x.io/?apiKey=1", ""])
def test_base_url_must_be_a_plain_http_root(url: str) -> None:
    with pytest.raises(ValueError, match="base_url .* is not valid"):
        check_base_url(url)
    assert check_base_url("https://finnhub.io/api/v1/") == "https://finnhub.io/api/v1"


@pytest.mark.parametrize("symbol,ticker", [("aapl", "AAPL"), (" BRK.B ", "BRK.B"), ("X:BTCUSD", "X:BTCUSD")])
def test_check_symbol_upper_cases_tickers(symbol: str, ticker: str) -> None:
    assert check_symbol(symbol) == ticker


@pytest.mark.parametrize("symbol", ["", "AA PL", "../etc", "A" * 33, None, "QQQ?apiKey=1"])
def test_check_symbol_refuses_what_is_not_a_ticker(symbol: object) -> None:
    with pytest.raises(ValueError, match="is not a ticker"):
        check_symbol(symbol)   # type: ignore[arg-type]
