"""Property tests (hypothesis) of what the bindings take from callers:
any JSON-like Python value converts to the JSON it means, and no request,
however malformed, does anything but decide or raise `RequestError` (or
`TypeError` for a call that mixes the two request forms)."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import reaper
from reaper import _reaper

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
SCALARS = st.none() | st.booleans() | INT64 | st.floats(allow_nan=False, allow_infinity=False) | st.text()
JSON_LIKE = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)
JUNK = st.recursive(
    SCALARS | st.binary(max_size=8) | st.integers() | st.floats() | st.tuples(st.text(max_size=4), st.text(max_size=4))
    | st.builds(reaper.Entity, st.text(max_size=6), st.text(max_size=6)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6) | st.integers(), inner, max_size=4)
    | st.frozensets(st.text(max_size=4), max_size=3),
    max_leaves=20,
)
FIELDS = ["principal", "action", "resource", "context", "entities"]


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-15, abs_tol=0.0)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b) and type(a) is type(b)


@settings(max_examples=300, deadline=None)
@given(JSON_LIKE)
def test_json_like_values_convert_to_the_json_they_mean(value: Any) -> None:
    text = _reaper.value_json(value)
    assert same(json.loads(text), json.loads(json.dumps(value)))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS + ["other"]), JUNK, max_size=6), st.booleans())
def test_any_request_decides_or_is_refused(docs: reaper.Engine, request: dict[str, Any], as_dict: bool) -> None:
    try:
        if as_dict or "other" in request:
            decision = docs.authorize(request)
        else:
            decision = docs.authorize(**request)
    except reaper.RequestError as error:
        assert error.field is not None and str(error)
    else:
        assert isinstance(decision, reaper.Decision)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12), st.lists(JUNK, max_size=4), st.integers(min_value=1, max_value=10))
def test_any_descriptors_count_or_are_refused(domain: str, descriptors: list[Any], hits: int) -> None:
    engine = reaper.Engine.from_source({"p.reaper": "ratelimit \"api\" { limit all: 5 per minute; }\n"}, clock=lambda: 1e9)
    try:
        answer = engine.rate_limit(domain, descriptors, hits)
    except reaper.RequestError as error:
        assert error.field.startswith(("descriptors", "hits", "domain")) or error.field == ""
    else:
        assert len(answer.statuses) == len(descriptors)
