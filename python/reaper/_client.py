"""`reaper.Client`: the same calls as `reaper.Engine`, answered by a
running `reaper serve` over HTTP/1.1 with keep-alive (one connection per
thread, reused). Requests are built by the same code as in process, so a
request that works in one works in the other."""

from __future__ import annotations

import http.client
import json
import re
import threading
import urllib.parse
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from . import _reaper
from ._common import AsyncVariants, Store
from ._errors import Denied, RequestError, ServiceError, StoreError
from ._results import RateLimitResult

#: What `/v1/authorize/batch` takes at once (the server's limit).
MAX_BATCH = 10_000

_STORE_CODES = {
    "no_such_namespace",
    "invalid_ttl",
    "ttl_above_max",
    "value_too_large",
    "key_exists",
    "namespace_full",
}


def _decision(data: Mapping[str, Any]) -> _reaper.Decision:
    return _reaper.Decision(
        data["decision"] == "allow",
        list(data.get("reasons", ())),
        [(e["rule"], e["error"]) for e in data.get("errors", ())],
        data.get("policy", ""),
        data.get("decision_id"),
    )


def _expiry_ms(text: str) -> int:
    # RFC 3339 in UTC, fractions of a second when not whole; Python 3.10's
    # fromisoformat takes neither `Z` nor every fraction length.
    match = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text)
    if not match:
        raise ServiceError(f"the server sent an expiry that is not RFC 3339: {text!r}")
    whole, fraction, offset = match.groups()
    offset = "+00:00" if offset == "Z" else offset
    seconds = datetime.fromisoformat(whole + offset).timestamp()
    ms = int((fraction or "0")[:3].ljust(3, "0"))
    return int(seconds) * 1000 + ms


class Client(AsyncVariants):
    """A client for `reaper serve`'s HTTP API with `reaper.Engine`'s
    surface: `authorize`, `authorize_batch`, `rate_limit`, `store`.

    `url` is the HTTP listener (`http://127.0.0.1:8080`); `token` is sent
    as a bearer token (`[auth]`); `timeout` bounds each call in seconds."""

    _blocking_io = True

    def __init__(self, url: str = "http://127.0.0.1:8080", *, token: str | None = None, timeout: float = 5.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"a server URL is http://host:port or https://host:port, not {url!r}")
        self.url = url
        self._https = parsed.scheme == "https"
        self._host = parsed.hostname
        self._port = parsed.port or (443 if self._https else 80)
        self._prefix = parsed.path.rstrip("/")
        self._timeout = timeout
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    def close(self) -> None:
        """Closes this thread's connection (others close when their
        threads end)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ----------------------------------------------------------- transport

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            connection = kind(self._host, self._port, timeout=self._timeout)
            self._local.connection = connection
        return connection

    def _call(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, Mapping[str, str], bytes]:
        all_headers = {**self._headers, **(headers or {})}
        if body is not None:
            all_headers.setdefault("Content-Type", "application/json")
        # A kept-alive connection the server has closed fails before the
        # request is read: send it once more on a new one.
        for attempt in (0, 1):
            connection = self._connection()
            reused = connection.sock is not None
            try:
                connection.request(method, self._prefix + path, body=body, headers=all_headers)
                response = connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as error:
                self.close()
                if reused and attempt == 0:
                    continue
                raise ServiceError(f"{self.url}: {error}") from error
            except (OSError, http.client.HTTPException) as error:
                self.close()
                raise ServiceError(f"{self.url}: {error}") from error
            if response.getheader("connection", "").lower() == "close":
                self.close()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        raise ServiceError(f"{self.url}: the connection closed")  # pragma: no cover

    def _error(self, status: int, data: bytes) -> Exception:
        try:
            body = json.loads(data)
            error = body["error"]
            code, message, field = error["code"], error["message"], error.get("field") or ""
        except (ValueError, KeyError, TypeError):
            return ServiceError(f"{self.url}: HTTP {status}: {data[:200]!r}", status)
        if status == 403 and "decision" in body:
            return Denied(message, _decision(body["decision"]))
        if code in _STORE_CODES:
            return StoreError(message, code)
        if code in ("invalid_request", "malformed_json"):
            reason = message.split(": ", 1)[1] if field and message.startswith(f"`{field}`: ") else message
            return RequestError(message, field, reason)
        return ServiceError(f"{self.url}: {message}", status, code)

    def _json(self, path: str, body: str) -> Any:
        status, _headers, data = self._call("POST", path, body.encode())
        if status != 200:
            raise self._error(status, data)
        return json.loads(data)

    # ----------------------------------------------------------- decisions

    def authorize(self, request: Any = None, /, **fields: Any) -> _reaper.Decision:
        """Decides one request (`POST /v1/authorize`): keyword fields, or a
        request dict or JSON text, as `Engine.authorize` takes."""
        return _decision(self._json("/v1/authorize", _reaper.request_json(request, **fields)))

    def authorize_batch(self, requests: Any) -> list[_reaper.Decision]:
        """Decides many requests (`POST /v1/authorize/batch`, in batches of
        at most 10,000). An invalid request raises `RequestError` naming it
        (`[3].context.mfa`)."""
        texts = [_reaper_request_text(request, i) for i, request in enumerate(requests)]
        out: list[_reaper.Decision] = []
        for start in range(0, len(texts), MAX_BATCH):
            chunk = texts[start : start + MAX_BATCH]
            body = '{"requests":[' + ",".join(chunk) + "]}"
            answer = self._json("/v1/authorize/batch", body)
            for i, result in enumerate(answer["results"], start):
                if "error" in result:
                    error = result["error"]
                    field = re.sub(r"^requests\[\d+\]", f"[{i}]", error.get("field") or f"[{i}]")
                    raise RequestError(f"`{field}`: {error['message']}", field, error["message"])
                out.append(_decision(result))
        return out

    def rate_limit(self, domain: str, descriptors: Any, hits: int = 1) -> RateLimitResult:
        """Counts hits and decides (`POST /v1/ratelimit`), with the
        server's counters (shared by every sidecar with a shared backend)."""
        if hits < 1:
            raise RequestError("`hits`: hits are at least 1", "hits", "hits are at least 1")
        body = _reaper.ratelimit_request_json(domain, descriptors, hits)
        return RateLimitResult._from_json(self._json("/v1/ratelimit", body))

    def store(self, namespace: str, *, principal: Any = None, context: Mapping[str, Any] | None = None) -> Store:
        """A handle on the server's TTL store `namespace`, as `Engine.store`."""
        return Store(self, namespace, principal, context)

    # ----------------------------------------------------------- the store

    def _store_path(self, namespace: str, key: str) -> str:
        def quote(text: str) -> str:
            return urllib.parse.quote(text, safe="")

        return f"/v1/store/{quote(namespace)}/{quote(key)}"

    def _caller_headers(self, principal: Any, context: Mapping[str, Any] | None) -> dict[str, str]:
        headers = {"x-reaper-principal": _reaper.entity_reference_json(principal)}
        if context is not None:
            headers["x-reaper-context"] = _reaper.value_json(context)
        return headers

    def _store_get(self, namespace: str, key: str, principal: Any, context: Mapping[str, Any] | None) -> tuple[bytes, int] | None:
        status, headers, data = self._call("GET", self._store_path(namespace, key), None, self._caller_headers(principal, context))
        if status == 200:
            return data, _expiry_ms(headers["x-reaper-expires-at"])
        error = self._error(status, data)
        if isinstance(error, ServiceError) and error.code == "no_such_key":
            return None
        raise error

    def _store_put(
        self,
        namespace: str,
        key: str,
        value: bytes,
        principal: Any,
        context: Mapping[str, Any] | None,
        ttl: str | None,
        create_only: bool,
    ) -> int:
        path = self._store_path(namespace, key)
        if ttl:
            path += "?ttl=" + urllib.parse.quote(ttl, safe="")
        headers = self._caller_headers(principal, context)
        headers["Content-Type"] = "application/octet-stream"
        if create_only:
            headers["If-None-Match"] = "*"
        status, answer, data = self._call("PUT", path, value, headers)
        if status == 201:
            return _expiry_ms(answer["x-reaper-expires-at"])
        raise self._error(status, data)

    def _store_delete(self, namespace: str, key: str, principal: Any, context: Mapping[str, Any] | None) -> bool:
        status, _headers, data = self._call("DELETE", self._store_path(namespace, key), None, self._caller_headers(principal, context))
        if status == 204:
            return True
        error = self._error(status, data)
        if isinstance(error, ServiceError) and error.code == "no_such_key":
            return False
        raise error


def _reaper_request_text(request: Any, index: int) -> str:
    if isinstance(request, str):
        return request
    if isinstance(request, bytes):
        return request.decode()
    if isinstance(request, Mapping):
        return _reaper.request_json(dict(request))
    raise RequestError(f"`[{index}]`: a request is a dict or JSON text", f"[{index}]")
