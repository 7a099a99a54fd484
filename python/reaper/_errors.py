"""The exceptions the engine and the HTTP client raise, and the structured
diagnostics a `PolicyError` carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ReaperError(Exception):
    """The base class of every error Reaper raises."""


@dataclass(frozen=True)
class Diagnostic:
    """One compiler diagnostic: where, what, and how to fix it."""

    code: str
    name: str
    severity: str
    message: str
    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    label: str = ""
    help: str | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.severity}[{self.code}]: {self.message}"


class PolicyError(ReaperError, ValueError):
    """A policy that does not compile, or a bundle that does not load.

    `diagnostics` holds each diagnostic as data; `str(error)` renders them
    with the source line, as `reaper check` does."""

    def __init__(self, rendered: str, diagnostics: list[Diagnostic] | None = None) -> None:
        super().__init__(rendered)
        self.rendered = rendered
        self.diagnostics: list[Diagnostic] = list(diagnostics or [])


class RequestError(ReaperError, ValueError):
    """A request that does not conform to the schema; `field` names the
    field at fault (`context.mfa`, `[3].principal`)."""

    def __init__(self, message: str, field: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason or message


class Denied(ReaperError, PermissionError):
    """The policy denied: a store access, or a call `@reaper.enforce`
    guards. `decision` says which rules decided."""

    def __init__(self, message: str, decision: Any = None) -> None:
        super().__init__(message)
        self.decision = decision


class StoreError(ReaperError):
    """A store access refused besides the policy: `code` is the HTTP API's
    (`no_such_namespace`, `invalid_ttl`, `ttl_above_max`,
    `value_too_large`, `key_exists`, `namespace_full`)."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class ServiceError(ReaperError, ConnectionError):
    """`reaper serve` could not be reached, or answered with an error the
    client does not map to one of the classes above; `status` is the HTTP
    status (0: no answer) and `code` the API's error code."""

    def __init__(self, message: str, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
