"""`@reaper.enforce`: a function that runs only when the policy allows."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from ._common import current_caller
from ._errors import Denied, RequestError

F = TypeVar("F", bound=Callable[..., Any])


def _resolver(spec: Any) -> Callable[[Mapping[str, Any]], Any]:
    """A constant, or a callable given the call's arguments by name (only
    those it declares, or all with `**kwargs`)."""
    if not callable(spec):
        return lambda _arguments: spec
    parameters = inspect.signature(spec).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return lambda arguments: spec(**arguments)
    names = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return lambda arguments: spec(**{n: arguments[n] for n in names if n in arguments})


def enforce(
    engine: Any,
    *,
    action: Any,
    resource: Any,
    principal: Any = None,
    context: Any = None,
    entities: Any = None,
) -> Callable[[F], F]:
    """Guards a function (sync or async) with an authorization decision.

    Each of `action`, `resource`, `principal`, `context` and `entities` is a
    value or a callable given the call's arguments by name:

        @reaper.enforce(engine, action="read", resource=lambda doc_id: ("Document", doc_id))
        def read(doc_id: str) -> bytes: ...

    `principal` (and `context`, when not given) come from
    `reaper.acting_as(...)` when left out. A denial raises
    `reaper.Denied` carrying the decision; `engine` is a `reaper.Engine` or
    a `reaper.Client`."""
    fields = {
        "action": _resolver(action),
        "resource": _resolver(resource),
        "principal": _resolver(principal) if principal is not None else None,
        "context": _resolver(context) if context is not None else None,
        "entities": _resolver(entities) if entities is not None else None,
    }

    def decorate(function: F) -> F:
        signature = inspect.signature(function)

        def request(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = bound.arguments
            scoped_principal, scoped_context = current_caller()
            out = {name: resolve(arguments) for name, resolve in fields.items() if resolve is not None}
            out.setdefault("principal", scoped_principal)
            if out["principal"] is None:
                raise RequestError(
                    f"`principal`: {function.__qualname__} is guarded by reaper.enforce; "
                    "give principal= or call it within reaper.acting_as(...)",
                    "principal",
                )
            if "context" not in out and scoped_context is not None:
                out["context"] = scoped_context
            return out

        def check(decision: Any) -> None:
            if not decision:
                reasons = ", ".join(decision.reasons) or "no rule permits it"
                raise Denied(f"{function.__qualname__}: denied ({reasons})", decision)

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                check(await engine.authorize_async(**request(args, kwargs)))
                return await function(*args, **kwargs)

            return cast(F, guarded_async)

        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            check(engine.authorize(**request(args, kwargs)))
            return function(*args, **kwargs)

        return cast(F, guarded)

    return decorate
