"""Type stubs of the native module `reaper._reaper` (python/src)."""

from collections.abc import Callable, Iterable, Mapping
from typing import Any, final

from typing_extensions import Self, TypeAlias, disjoint_base

__all__ = [
    "Decision",
    "Engine",
    "Entity",
    "__version__",
    "compile_sources",
    "duration_ms",
    "entity_reference_json",
    "ratelimit_request_json",
    "request_json",
    "value_json",
]

__version__: str

_Request: TypeAlias = Mapping[str, Any] | str | bytes
_EntityLike: TypeAlias = tuple[str, str] | str | Entity | Mapping[str, Any]

@final
class Decision:
    """The answer to an authorization request; true when allowed."""

    allowed: bool
    reasons: tuple[str, ...]
    errors: tuple[tuple[str, str], ...]
    policy_hash: str
    decision_id: str | None
    decision: str
    def __new__(
        cls,
        allowed: bool,
        reasons: Iterable[str] = ...,
        errors: Iterable[tuple[str, str]] = ...,
        policy_hash: str = ...,
        decision_id: str | None = ...,
    ) -> Self: ...
    def __bool__(self) -> bool: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class Entity:
    """An entity: type and id, and optionally its data."""

    type: str
    id: str
    attrs: Mapping[str, Any] | None
    parents: Iterable[_EntityLike] | None
    def __new__(
        cls,
        type: str,
        id: str,
        attrs: Mapping[str, Any] | None = None,
        parents: Iterable[_EntityLike] | None = None,
    ) -> Self: ...

@disjoint_base
class Engine:
    """The native engine; use `reaper.Engine`."""

    def __new__(
        cls,
        bundle: bytes,
        *,
        entities: Iterable[_EntityLike] | str | None = None,
        clock: Callable[[], float] | None = None,
    ) -> Self: ...
    @property
    def policy_hash(self) -> str: ...
    @property
    def package(self) -> str | None: ...
    @property
    def bundle(self) -> bytes: ...
    def set_entities(self, entities: Iterable[_EntityLike] | str) -> None: ...
    def authorize(
        self,
        request: _Request | None = None,
        /,
        *,
        principal: _EntityLike | None = None,
        action: str | None = None,
        resource: _EntityLike | None = None,
        context: Mapping[str, Any] | None = None,
        entities: Iterable[_EntityLike] | None = None,
    ) -> Decision: ...
    def authorize_batch(self, requests: Iterable[_Request]) -> list[Decision]: ...
    def explain(
        self,
        request: _Request | None = None,
        /,
        *,
        principal: _EntityLike | None = None,
        action: str | None = None,
        resource: _EntityLike | None = None,
        context: Mapping[str, Any] | None = None,
        entities: Iterable[_EntityLike] | None = None,
    ) -> dict[str, Any]: ...
    def _replace(self, bundle: bytes) -> bytes: ...
    def _rate_limit(self, domain: str, descriptors: Any, hits: int = 1) -> dict[str, Any]: ...
    def _store_get(
        self, namespace: str, key: str, principal: _EntityLike, context: Mapping[str, Any] | None = None
    ) -> tuple[bytes, int] | None: ...
    def _store_put(
        self,
        namespace: str,
        key: str,
        value: bytes,
        principal: _EntityLike,
        context: Mapping[str, Any] | None = None,
        ttl: str | None = None,
        create_only: bool = False,
    ) -> int: ...
    def _store_delete(
        self, namespace: str, key: str, principal: _EntityLike, context: Mapping[str, Any] | None = None
    ) -> bool: ...
    def _store_stats(self) -> dict[str, tuple[int, int]]: ...

def compile_sources(sources: list[tuple[str, str]]) -> bytes: ...
def request_json(
    request: _Request | None = None,
    /,
    *,
    principal: _EntityLike | None = None,
    action: str | None = None,
    resource: _EntityLike | None = None,
    context: Mapping[str, Any] | None = None,
    entities: Iterable[_EntityLike] | None = None,
) -> str: ...
def entity_reference_json(entity: _EntityLike) -> str: ...
def value_json(value: Any) -> str: ...
def ratelimit_request_json(domain: str, descriptors: Any, hits: int = 1) -> str: ...
def duration_ms(text: str) -> int: ...
