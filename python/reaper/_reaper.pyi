"""Type stubs of the native module `reaper._reaper` (python/src)."""

from collections.abc import Callable, Iterable, Mapping
from typing import Any, final

__version__: str

Request = Mapping[str, Any] | str | bytes
EntityLike = tuple[str, str] | str | Entity | Mapping[str, Any]

@final
class Decision:
    """The answer to an authorization request; true when allowed."""

    allowed: bool
    reasons: tuple[str, ...]
    errors: tuple[tuple[str, str], ...]
    policy_hash: str
    decision_id: str | None
    decision: str
    def __init__(
        self,
        allowed: bool,
        reasons: Iterable[str] = ...,
        errors: Iterable[tuple[str, str]] = ...,
        policy_hash: str = ...,
        decision_id: str | None = ...,
    ) -> None: ...
    def __bool__(self) -> bool: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class Entity:
    """An entity: type and id, and optionally its data."""

    type: str
    id: str
    attrs: Mapping[str, Any] | None
    parents: Iterable[EntityLike] | None
    def __init__(
        self,
        type: str,
        id: str,
        attrs: Mapping[str, Any] | None = None,
        parents: Iterable[EntityLike] | None = None,
    ) -> None: ...

class Engine:
    """The native engine; use `reaper.Engine`."""

    def __init__(
        self,
        bundle: bytes,
        *,
        entities: Iterable[EntityLike] | str | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None: ...
    @property
    def policy_hash(self) -> str: ...
    @property
    def package(self) -> str | None: ...
    @property
    def bundle(self) -> bytes: ...
    def set_entities(self, entities: Iterable[EntityLike] | str) -> None: ...
    def authorize(
        self,
        request: Request | None = None,
        /,
        *,
        principal: EntityLike | None = None,
        action: str | None = None,
        resource: EntityLike | None = None,
        context: Mapping[str, Any] | None = None,
        entities: Iterable[EntityLike] | None = None,
    ) -> Decision: ...
    def authorize_batch(self, requests: Iterable[Request]) -> list[Decision]: ...
    def explain(
        self,
        request: Request | None = None,
        /,
        *,
        principal: EntityLike | None = None,
        action: str | None = None,
        resource: EntityLike | None = None,
        context: Mapping[str, Any] | None = None,
        entities: Iterable[EntityLike] | None = None,
    ) -> dict[str, Any]: ...
    def _replace(self, bundle: bytes) -> bytes: ...
    def _rate_limit(self, domain: str, descriptors: Any, hits: int = 1) -> dict[str, Any]: ...
    def _store_get(
        self, namespace: str, key: str, principal: EntityLike, context: Mapping[str, Any] | None = None
    ) -> tuple[bytes, int] | None: ...
    def _store_put(
        self,
        namespace: str,
        key: str,
        value: bytes,
        principal: EntityLike,
        context: Mapping[str, Any] | None = None,
        ttl: str | None = None,
        create_only: bool = False,
    ) -> int: ...
    def _store_delete(
        self, namespace: str, key: str, principal: EntityLike, context: Mapping[str, Any] | None = None
    ) -> bool: ...
    def _store_stats(self) -> dict[str, tuple[int, int]]: ...

def compile_sources(sources: list[tuple[str, str]]) -> bytes: ...
def request_json(
    request: Request | None = None,
    /,
    *,
    principal: EntityLike | None = None,
    action: str | None = None,
    resource: EntityLike | None = None,
    context: Mapping[str, Any] | None = None,
    entities: Iterable[EntityLike] | None = None,
) -> str: ...
def entity_reference_json(entity: EntityLike) -> str: ...
def value_json(value: Any) -> str: ...
def ratelimit_request_json(domain: str, descriptors: Any, hits: int = 1) -> str: ...
def duration_ms(text: str) -> int: ...
