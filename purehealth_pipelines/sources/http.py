"""The one HTTP layer every government source goes through (httpx).

Why one layer: the publishers (data.gov.in, India-WRIS, CPCB/MPCB/IMD web servers) are slow, rate-limited and
flaky. Timeouts, retries with exponential backoff and full jitter (AWS Architecture Blog, "Exponential Backoff
And Jitter", 2015) on 429/5xx/timeouts, a per-host request rate limit, and *clear* errors for auth
failures and
schema changes belong in one place, not in five copies. The transport is injectable: tests and the offline
demo plug an `httpx.MockTransport` in at this boundary so the same client and parser code runs in both modes.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class PublisherError(RuntimeError):
    """Base class: a publisher could not give us what we asked for."""


class PublisherAuthError(PublisherError):
    """401/403 (or an API-level 'invalid key'): retrying cannot help; fix the credentials."""


class PublisherSchemaError(PublisherError):
    """The response is not in the shape the parser was written for: the publisher changed its format."""


class PublisherUnavailable(PublisherError):
    """Gave up after the retry budget (429/5xx/timeouts every time)."""


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter: sleep U(0, min(cap, base * 2**attempt))."""

    max_attempts: int = 5
    base_seconds: float = 0.5
    cap_seconds: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0.0, min(self.cap_seconds, self.base_seconds * (2**attempt)))


@dataclass
class HostRateLimiter:
    """At most `per_second` requests to each host (a minimum interval between request starts)."""

    per_second: float = 2.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _next_slot: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, host: str) -> None:
        if self.per_second <= 0:
            return
        interval = 1.0 / self.per_second
        with self._lock:
            now = self.clock()
            slot = max(now, self._next_slot.get(host, now))
            self._next_slot[host] = slot + interval
        if slot > now:
            self.sleep(slot - now)


class PublisherClient:
    """httpx client with timeouts, retries, a per-host rate limit and publisher-specific error mapping."""

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout_seconds: float = 30.0,
        retry: RetryPolicy | None = None,
        rate_limit_per_host: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
        user_agent: str = "purehealth-pipelines/0.1 (+water-quality research)",
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.rng = random.Random(seed)
        self.limiter = HostRateLimiter(per_second=rate_limit_per_host, sleep=sleep)
        self.attempts_made = 0  # total HTTP attempts, for metadata and tests
        self._client = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds)),
            headers={"User-Agent": user_agent},
            follow_redirects=True,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PublisherClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One logical request: retried on 429/5xx/timeouts/connection errors, raised clearly otherwise."""
        last_problem = "no attempt made"
        for attempt in range(self.retry.max_attempts):
            host = httpx.URL(url).host
            self.limiter.wait(host)
            self.attempts_made += 1
            try:
                response = self._client.request(method, url, params=params, data=data, headers=headers)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code in (401, 403):
                    raise PublisherAuthError(
                        f"{method} {_redact(response.request.url)} -> HTTP {response.status_code}: check the "
                        f"API key / credentials ({response.text[:200]!r})"
                    )
                if response.status_code not in RETRYABLE_STATUS:
                    if response.status_code >= 400:
                        raise PublisherError(
                            f"{method} {_redact(response.request.url)} -> HTTP {response.status_code}: "
                            f"{response.text[:200]!r}"
                        )
                    return response
                last_problem = f"HTTP {response.status_code}"
                retry_after = _retry_after_seconds(response)
                if retry_after is not None and attempt + 1 < self.retry.max_attempts:
                    log.warning("%s %s: %s, Retry-After %.1fs", method, host, last_problem, retry_after)
                    self.sleep(min(retry_after, self.retry.cap_seconds))
                    continue
            if attempt + 1 < self.retry.max_attempts:
                delay = self.retry.delay(attempt, self.rng)
                log.warning("%s %s: %s; retry %d in %.2fs", method, host, last_problem, attempt + 1, delay)
                self.sleep(delay)
        raise PublisherUnavailable(
            f"{method} {_redact(httpx.URL(url))} failed {self.retry.max_attempts} times; last: {last_problem}"
        )

    def get_json(self, url: str, **kwargs: Any) -> Any:
        return _json(self.request("GET", url, **kwargs))

    def post_json(self, url: str, **kwargs: Any) -> Any:
        return _json(self.request("POST", url, **kwargs))


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise PublisherSchemaError(
            f"{_redact(response.request.url)} did not return JSON "
            f"(content-type {response.headers.get('content-type')!r}, starts {response.text[:80]!r})"
        ) from exc


def _retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _redact(url: httpx.URL) -> str:
    """URLs go into logs and errors: never leak the data.gov.in key."""
    params = [
        (k, "***" if k.lower() in {"api-key", "api_key", "key", "token"} else v)
        for k, v in url.params.multi_items()
    ]
    return str(url.copy_with(params=params)) if params else str(url)
