"""Rate-limit answers, parsed from the JSON `/v1/ratelimit` answers and the
in-process engine returns alike (Envoy's `RateLimitResponse` with Reaper's
details)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from . import _reaper


def _duration(text: str | None) -> timedelta | None:
    if text is None:
        return None
    return timedelta(milliseconds=_reaper.duration_ms(text))


def _proto_duration(text: str | None) -> timedelta | None:
    # proto3 JSON's Duration: "59s", "0.250s".
    if text is None:
        return None
    return timedelta(seconds=float(text.rstrip("s")))


@dataclass(frozen=True)
class LimitStatus:
    """One applying limit after this request."""

    name: str
    count: int
    period: timedelta
    shadow: bool
    allowed: bool
    remaining: int
    reset: timedelta

    @classmethod
    def _from_json(cls, data: dict[str, Any]) -> LimitStatus:
        return cls(
            name=data["name"],
            count=data["count"],
            period=_duration(data["period"]) or timedelta(0),
            shadow=data["shadow"],
            allowed=data["allowed"],
            remaining=data["remaining"],
            reset=_duration(data["reset"]) or timedelta(0),
        )


@dataclass(frozen=True)
class DescriptorStatus:
    """One descriptor's answer: the limit closest to tripping (`limit`,
    `requests_per_unit`/`unit`, `remaining`, `reset_after`), every applying
    limit, and limits that failed at run time."""

    code: str
    limit: str | None = None
    requests_per_unit: int | None = None
    unit: str | None = None
    remaining: int | None = None
    reset_after: timedelta | None = None
    limits: tuple[LimitStatus, ...] = ()
    errors: tuple[tuple[str, str], ...] = ()

    @property
    def allowed(self) -> bool:
        return self.code == "OK"

    @classmethod
    def _from_json(cls, data: dict[str, Any]) -> DescriptorStatus:
        current = data.get("current_limit") or {}
        return cls(
            code=data["code"],
            limit=current.get("name"),
            requests_per_unit=current.get("requests_per_unit"),
            unit=current.get("unit"),
            remaining=data.get("limit_remaining"),
            reset_after=_proto_duration(data.get("duration_until_reset")),
            limits=tuple(LimitStatus._from_json(limit) for limit in data.get("limits", ())),
            errors=tuple((e["limit"], e["error"]) for e in data.get("errors", ())),
        )


@dataclass(frozen=True)
class RateLimitResult:
    """A rate-limit answer: over the limit if any descriptor is. True when
    allowed. `unknown_domain`: the policy declares no such domain, and the
    answer is OK (as Envoy's rate-limit services answer)."""

    allowed: bool
    statuses: tuple[DescriptorStatus, ...]
    policy_hash: str
    unknown_domain: bool = False

    def __bool__(self) -> bool:
        return self.allowed

    @classmethod
    def _from_json(cls, data: dict[str, Any]) -> RateLimitResult:
        return cls(
            allowed=data["overall_code"] == "OK",
            statuses=tuple(DescriptorStatus._from_json(s) for s in data["statuses"]),
            policy_hash=data.get("policy", ""),
            unknown_domain=bool(data.get("unknown_domain", False)),
        )
