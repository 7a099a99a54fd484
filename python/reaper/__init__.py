"""Reaper policies in Python: authorization, rate limits and TTL stores,
decided in process by the compiled policy (`reaper.Engine`), or by a
running `reaper serve` (`reaper.Client`) with the same calls.

    import reaper

    engine = reaper.Engine.from_source("examples/document-sharing")
    decision = engine.authorize(
        principal=("User", "alice"), action="read", resource=("Document", "plan"),
        context={"source_ip": ipaddress.ip_address("10.1.2.3"), "mfa": True,
                 "now": datetime.now(timezone.utc)},
    )
    if decision: ...

See docs/python.md."""

from ._reaper import Decision, Entity, __version__
from ._errors import (
    Denied,
    Diagnostic,
    PolicyError,
    ReaperError,
    RequestError,
    ServiceError,
    StoreError,
)
from ._results import DescriptorStatus, LimitStatus, RateLimitResult
from ._common import Entry, Store, acting_as
from ._engine import Engine, compile_policy
from ._enforce import enforce
from ._client import Client

__all__ = [
    "Client",
    "Decision",
    "Denied",
    "DescriptorStatus",
    "Diagnostic",
    "Engine",
    "Entity",
    "Entry",
    "LimitStatus",
    "PolicyError",
    "RateLimitResult",
    "ReaperError",
    "RequestError",
    "ServiceError",
    "Store",
    "StoreError",
    "__version__",
    "acting_as",
    "compile_policy",
    "enforce",
]
