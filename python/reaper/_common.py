"""What the in-process engine and the HTTP client share: the store handle,
the async variants, and who the caller is (`acting_as`)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from . import _reaper
from ._errors import RequestError

T = TypeVar("T")

#: Who calls, for `@reaper.enforce` and store handles that name no
#: principal: set for a scope with `acting_as`.
_caller: contextvars.ContextVar[tuple[Any, Mapping[str, Any] | None] | None] = (
    contextvars.ContextVar("reaper_caller", default=None)
)


@contextlib.contextmanager
def acting_as(principal: Any, context: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Within this scope (this thread, this asyncio task), `@reaper.enforce`
    and store handles act for `principal`, with `context` as the default
    context fields."""
    token = _caller.set((principal, context))
    try:
        yield
    finally:
        _caller.reset(token)


def current_caller() -> tuple[Any, Mapping[str, Any] | None]:
    """The principal and context `acting_as` set, or `(None, None)`."""
    return _caller.get() or (None, None)


async def run(call: Callable[..., T], /, *args: Any, offload: bool, **kwargs: Any) -> T:
    """Runs `call` in the loop's executor when it may block (`offload`),
    otherwise at once."""
    if offload:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(call, *args, **kwargs))
    return call(*args, **kwargs)


class AsyncVariants:
    """`*_async` versions of the calls. In process they complete at once
    (a decision takes microseconds and never waits on IO), except a batch,
    which runs in the loop's executor with the GIL released; over HTTP
    every call runs in the executor."""

    _blocking_io = False

    async def _run(self, call: Callable[..., T], /, *args: Any, offload: bool = False, **kwargs: Any) -> T:
        return await run(call, *args, offload=offload or self._blocking_io, **kwargs)

    async def authorize_async(self, request: Any = None, /, **fields: Any) -> Any:
        """`authorize`, awaitable."""
        return await self._run(self.authorize, request, **fields)  # type: ignore[attr-defined]

    async def authorize_batch_async(self, requests: Any) -> Any:
        """`authorize_batch`, awaitable; runs in the executor."""
        return await self._run(self.authorize_batch, list(requests), offload=True)  # type: ignore[attr-defined]

    async def rate_limit_async(self, domain: str, descriptors: Any, hits: int = 1) -> Any:
        """`rate_limit`, awaitable."""
        return await self._run(self.rate_limit, domain, descriptors, hits)  # type: ignore[attr-defined]


def ttl_text(ttl: timedelta | str | float | None) -> str | None:
    """A TTL in policy syntax: from a timedelta, seconds, or text."""
    if ttl is None or isinstance(ttl, str):
        return ttl
    if isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
        ttl = timedelta(seconds=ttl)
    if isinstance(ttl, timedelta):
        text = json.loads(_reaper.value_json(ttl))
        assert isinstance(text, str)
        return text
    raise RequestError(f"`ttl`: a TTL is a timedelta, seconds or text like \"30m\", not {type(ttl).__name__}", "ttl")


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


@dataclass(frozen=True)
class Entry:
    """A live value and when it expires."""

    value: bytes
    expires_at: datetime


class Store:
    """One TTL store namespace, as a principal accesses it. Every access
    is authorized by the policy (`store.read|write|delete` on
    `Store::"namespace"`, with `key`, and for writes `ttl` and `size`, in
    the context); a denial raises `reaper.Denied`."""

    def __init__(self, owner: Any, namespace: str, principal: Any = None, context: Mapping[str, Any] | None = None) -> None:
        self._owner = owner
        self.namespace = namespace
        self._principal = principal
        self._context = context

    def __repr__(self) -> str:
        return f"Store({self.namespace!r}, principal={self._principal!r})"

    def _caller(self, principal: Any, context: Mapping[str, Any] | None) -> tuple[Any, Mapping[str, Any] | None]:
        scoped_principal, scoped_context = current_caller()
        principal = principal if principal is not None else self._principal
        if principal is None:
            principal = scoped_principal
        if principal is None:
            raise RequestError(
                "`principal`: name who accesses the store: engine.store(ns, principal=(\"User\", \"ana\")), "
                "principal= on the call, or reaper.acting_as(...)",
                "principal",
            )
        if context is None:
            context = self._context if self._context is not None else scoped_context
        return principal, context

    def get_entry(self, key: str, *, principal: Any = None, context: Mapping[str, Any] | None = None) -> Entry | None:
        """The live value of `key` and its expiry, or None."""
        who, fields = self._caller(principal, context)
        got = self._owner._store_get(self.namespace, key, who, fields)
        if got is None:
            return None
        value, expires_at = got
        return Entry(bytes(value), from_ms(expires_at))

    def get(self, key: str, *, principal: Any = None, context: Mapping[str, Any] | None = None) -> bytes | None:
        """The live value of `key`, or None."""
        entry = self.get_entry(key, principal=principal, context=context)
        return None if entry is None else entry.value

    def put(
        self,
        key: str,
        value: bytes | str,
        *,
        ttl: timedelta | str | float | None = None,
        create_only: bool = False,
        principal: Any = None,
        context: Mapping[str, Any] | None = None,
    ) -> datetime:
        """Writes `value` (a str is stored as UTF-8) for `ttl` (the
        namespace's default when None); with `create_only`, refuses
        (`StoreError`, code `key_exists`) if a live value is there. Returns
        when it expires."""
        who, fields = self._caller(principal, context)
        data = value.encode() if isinstance(value, str) else bytes(value)
        expires_at = self._owner._store_put(self.namespace, key, data, who, fields, ttl_text(ttl), create_only)
        return from_ms(expires_at)

    def delete(self, key: str, *, principal: Any = None, context: Mapping[str, Any] | None = None) -> bool:
        """Deletes `key`; whether a live value was there."""
        who, fields = self._caller(principal, context)
        return bool(self._owner._store_delete(self.namespace, key, who, fields))

    # In process these complete at once; over HTTP they run in the executor.
    async def get_async(self, key: str, **kwargs: Any) -> bytes | None:
        return await run(self.get, key, offload=self._owner._blocking_io, **kwargs)

    async def get_entry_async(self, key: str, **kwargs: Any) -> Entry | None:
        return await run(self.get_entry, key, offload=self._owner._blocking_io, **kwargs)

    async def put_async(self, key: str, value: bytes | str, **kwargs: Any) -> datetime:
        return await run(self.put, key, value, offload=self._owner._blocking_io, **kwargs)

    async def delete_async(self, key: str, **kwargs: Any) -> bool:
        return await run(self.delete, key, offload=self._owner._blocking_io, **kwargs)
