"""Calls on the caller's thread (reads; writes such as withdrawing a version or creating a dataset), raising
ExpertloopError on failure."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx

from ._sender import RETRY_STATUSES, retry_after_seconds
from .errors import ServerError, StillPreparing, error_for

VERSION_HEADER = "X-Dataset-Version"
READ_ATTEMPTS = 3
SUCCESS = frozenset({200, 201, 202, 204})
MAX_READ_WAIT = 30.0  # seconds: a longer Retry-After is not waited for; the error is raised instead
# seconds a download waits while the server prepares its file (Parquet and hf are rendered by a worker once)
PREPARE_WAIT = 600.0


class Reader:
    def __init__(
        self, *, url: str, headers: dict[str, str], timeout: float, transport: httpx.BaseTransport | None = None
    ):
        self._options = {"base_url": url, "headers": headers, "timeout": timeout, "transport": transport}
        self._http: httpx.Client | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def _client(self) -> httpx.Client:
        with self._lock:
            if self._http is None or self._pid != os.getpid():
                # A forked child must not read from its parent's sockets: it opens its own.
                self._http = httpx.Client(**self._options)
                self._pid = os.getpid()
            return self._http

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        with self.stream(path, params) as response:
            response.read()
            return response.json()

    def post_json(
        self,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        *,
        read_timeout: float | None = None,
    ) -> Any:
        """POST (a JSON body, if any) to an endpoint where a repeat is harmless (it answers the same, or asks for what
        is already asked for): retried as reads are. `read_timeout`: seconds to wait for an answer the server may
        take long to give, instead of the client's `timeout`."""
        with self.stream(path, params, method="POST", body=body, read_timeout=read_timeout) as response:
            response.read()
            return response.json()

    def send_json(self, method: str, path: str, body: dict[str, Any] | None = None, *, idempotent: bool) -> Any:
        """Send a write and return its JSON answer (None for a 204). `idempotent`: a repeat changes nothing (an
        erasure), so it is retried as reads are; otherwise (a create) only a 429 is sent again, as the server did
        nothing then: a 5xx or a lost answer may follow a write that went through, and is raised, not repeated."""
        with self.stream(path, method=method, body=body, idempotent=idempotent) as response:
            response.read()
            return response.json() if response.status_code != 204 and response.content else None

    def get_text(self, path: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> str:
        with self.stream(path, params, headers) as response:
            response.read()
            return response.text

    @contextmanager
    def stream(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        *,
        prepare_wait: float = 0.0,
        method: str = "GET",
        body: dict[str, Any] | None = None,
        read_timeout: float | None = None,
        idempotent: bool = True,
    ) -> Iterator[httpx.Response]:
        """A 200 (or 201, 202, 204) response whose body is not read yet; other statuses raise (429, 5xx and no answer
        retried; only 429 when not `idempotent`).

        `prepare_wait`: seconds to wait out 503s that carry Retry-After (a worker is preparing the file: a download in
        Parquet or hf), honouring it, before StillPreparing is raised; these waits are not counted as attempts."""
        # None, not {}: httpx replaces a query already in `path` (a `next` link) with the params given.
        query = {name: value for name, value in (params or {}).items() if value is not None} or None
        deadline = time.monotonic() + prepare_wait
        timeout: httpx.Timeout | Any = httpx.USE_CLIENT_DEFAULT
        if read_timeout is not None:
            timeout = httpx.Timeout(self._options["timeout"], read=read_timeout)
        attempt = 0
        while True:
            attempt += 1
            with ExitStack() as stack:
                try:
                    response = stack.enter_context(
                        self._client().stream(method, path, params=query, headers=headers, json=body, timeout=timeout)
                    )
                    if response.status_code not in SUCCESS:
                        response.read()
                except httpx.TransportError as exc:
                    if attempt >= READ_ATTEMPTS or not idempotent:
                        raise ServerError(f"No answer from {self._options['base_url']}: {exc!r}") from exc
                    wait = None
                else:
                    if response.status_code in SUCCESS:
                        yield response  # errors while the caller reads the body are the caller's: no retry
                        return
                    wait = retry_after_seconds(response)
                    if prepare_wait and wait is not None and _preparing(response):
                        if time.monotonic() + wait > deadline:
                            raise StillPreparing(
                                f"The server was still preparing the file after {prepare_wait:g} s: "
                                f"{_error(response).message}",
                                status=503,
                            )
                        attempt -= 1  # waiting for the file is not a failed attempt
                        time.sleep(wait)
                        continue
                    retryable = RETRY_STATUSES if idempotent else {429}
                    retry = response.status_code in retryable and attempt < READ_ATTEMPTS
                    if not retry or (wait is not None and wait > MAX_READ_WAIT):
                        raise _error(response)
            time.sleep(wait if wait is not None else 0.5 * 2 ** (attempt - 1))


def _preparing(response: httpx.Response) -> bool:
    """A download's 503 saying a worker is making the file: it names the version, as a 503 of the database being down
    (or of a proxy) does not. Those are retried as any 503 of a read, not waited out as a file being made."""
    return response.status_code == 503 and VERSION_HEADER in response.headers


def _error(response: httpx.Response) -> Exception:
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        errors = []
    return error_for(response.status_code, errors, response.text[:500] or response.reason_phrase)
