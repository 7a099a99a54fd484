"""Loading policies, the Python forms of requests, and every error a bad
policy, bundle or request raises."""

from __future__ import annotations

import ipaddress
import subprocess
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

import reaper
from conftest import EXAMPLES, reaper_bin

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
ALICE = reaper.Entity("User", "alice", {"clearance": 2, "contractor": False}, [("Team", "eng")])


def doc(**attrs: object) -> reaper.Entity:
    base = {"owner": ("User", "bob"), "public": False, "labels": set(), "editors": []}
    return reaper.Entity("Document", "plan", {**base, **attrs}, [("Folder", "projects")])


def ctx(**fields: object) -> dict[str, object]:
    return {"source_ip": ipaddress.ip_address("10.1.2.3"), "mfa": True, "now": NOW, **fields}


# ------------------------------------------------------------------ loading


def test_from_source_takes_a_directory_a_file_text_and_a_mapping(tmp_path: Path) -> None:
    directory = reaper.Engine.from_source(EXAMPLES / "document-sharing")
    as_text = reaper.Engine.from_source(
        {p.name: p.read_text() for p in sorted((EXAMPLES / "document-sharing").glob("*.reaper"))}
    )
    assert directory.policy_hash == as_text.policy_hash
    assert directory.package == "docs"
    one_file = tmp_path / "p.reaper"
    one_file.write_text("entity User\naction go on User by User\npermit go on User;\n")
    by_path = reaper.Engine.from_source(one_file)
    by_str_path = reaper.Engine.from_source(str(one_file))
    by_text = reaper.Engine.from_source(one_file.read_text())
    # The hash covers file names (explanations cite them): text is `<policy>`.
    assert by_path.policy_hash == by_str_path.policy_hash != by_text.policy_hash
    assert by_text.authorize(principal=("User", "a"), action="go", resource=("User", "b"))


def test_from_bundle_loads_what_reaper_compile_writes(tmp_path: Path) -> None:
    out = tmp_path / "docs.bundle"
    subprocess.run([reaper_bin(), "compile", str(EXAMPLES / "document-sharing"), "-o", str(out)], check=True)
    from_file = reaper.Engine.from_bundle(out)
    from_bytes = reaper.Engine.from_bundle(out.read_bytes())
    compiled = reaper.Engine.from_source(EXAMPLES / "document-sharing")
    assert from_file.policy_hash == from_bytes.policy_hash == compiled.policy_hash
    assert compiled.bundle == out.read_bytes()
    assert reaper.compile_policy(EXAMPLES / "document-sharing") == out.read_bytes()


def test_a_policy_with_errors_raises_policy_error_with_structured_diagnostics() -> None:
    source = "entity User\naction read on User by User\npermit raed on User;\npermit read on Usr;\n"
    with pytest.raises(reaper.PolicyError) as raised:
        reaper.Engine.from_source({"bad.reaper": source})
    error = raised.value
    assert isinstance(error, ValueError)
    assert [(d.code, d.file, d.line, d.column) for d in error.diagnostics] == [
        ("E0102", "bad.reaper", 3, 8),
        ("E0100", "bad.reaper", 4, 16),
    ]
    first = error.diagnostics[0]
    assert first.severity == "error" and "raed" in first.message and first.help
    assert first.end_line == 3 and first.end_column == 12
    rendered = str(error)
    assert rendered.startswith("bad.reaper:3:8: error[E0102]: unknown action `raed`\n")
    assert "3 | permit raed on User;" in rendered and "^^^^" in rendered
    assert "did you mean `User`?" in rendered and rendered.endswith("2 errors")


def test_a_syntax_error_points_at_its_token() -> None:
    with pytest.raises(reaper.PolicyError) as raised:
        reaper.Engine.from_source({"p.reaper": "entity User {\n  name: String,,\n}\n"})
    (diagnostic,) = raised.value.diagnostics
    assert (diagnostic.line, diagnostic.code[0]) == (2, "E")


def test_a_bad_bundle_raises_policy_error_saying_why() -> None:
    bundle = reaper.compile_policy(EXAMPLES / "document-sharing")
    for broken in (b"", b"not a bundle", bundle[:-10], bundle[:40] + bytes([bundle[40] ^ 0xFF]) + bundle[41:]):
        with pytest.raises(reaper.PolicyError, match="invalid bundle"):
            reaper.Engine.from_bundle(broken)


def test_missing_paths_raise_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        reaper.Engine.from_source(tmp_path / "nowhere.reaper")
    with pytest.raises(FileNotFoundError):
        reaper.Engine.from_source(tmp_path)  # no .reaper files


# ----------------------------------------------------------------- requests


def test_python_forms_and_json_forms_decide_alike(docs: reaper.Engine) -> None:
    python = docs.authorize(principal=ALICE, action="read", resource=doc(editors=[("User", "alice")]), context=ctx())
    json_form = docs.authorize(
        {
            "principal": {"type": "User", "id": "alice", "attrs": {"clearance": 2, "contractor": False},
                          "parents": [{"type": "Team", "id": "eng"}]},
            "action": "read",
            "resource": {"type": "Document", "id": "plan", "parents": [{"type": "Folder", "id": "projects"}],
                         "attrs": {"owner": {"type": "User", "id": "bob"}, "public": False, "labels": [],
                                   "editors": [{"type": "User", "id": "alice"}]}},
            "context": {"source_ip": "10.1.2.3", "mfa": True, "now": "2026-01-01T00:00:00Z"},
        }
    )
    assert python == json_form
    assert python.allowed and python.reasons == ("editors",) and python.decision == "allow"
    # References in every form name the same entity.
    for principal in (("User", "alice"), 'User::"alice"', {"type": "User", "id": "alice"}, reaper.Entity("User", "alice")):
        decision = docs.authorize(principal=principal, action="read", resource=doc(owner=("User", "alice")), context=ctx())
        assert decision.reasons == ("owner-all",), principal


def test_values_convert_from_python_types(docs: reaper.Engine) -> None:
    embargo = doc(public=True, embargo_until=datetime(2026, 6, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))))
    before = docs.authorize(principal=ALICE, action="read", resource=embargo, context=ctx())
    assert before.reasons == ("embargo",)
    after = docs.authorize(principal=ALICE, action="read", resource=embargo, context=ctx(now=NOW + timedelta(days=365)))
    assert after.reasons == ("public-read",)
    office = ipaddress.ip_network("192.168.100.0/24")
    confidential = doc(owner=("User", "alice"), labels=frozenset({"confidential"}))
    assert docs.authorize(principal=ALICE, action="read", resource=confidential, context=ctx(source_ip=office))
    assert not docs.authorize(principal=ALICE, action="read", resource=confidential,
                              context=ctx(source_ip=ipaddress.ip_address("2001:db8::1")))
    sessions = reaper.Engine.from_source(EXAMPLES / "session-store")
    ana = reaper.Entity("User", "ana", {"suspended": False})
    for ttl, allowed in ((timedelta(hours=8), True), (timedelta(hours=8, milliseconds=1), False), ("8h", True)):
        write = sessions.explain(principal=ana, action="store.write", resource=("Store", "sessions"),
                                 context={**ctx(), "key": "k", "ttl": ttl, "size": 1})
        applied = {c["rule"] for c in write["candidates"] if c["outcome"] == "applied"}
        assert ("user-sessions-expire" not in applied) == allowed, ttl
    with pytest.raises(reaper.RequestError, match="whole milliseconds"):
        sessions.authorize(principal=ana, action="store.write", resource=("Store", "sessions"),
                           context={**ctx(), "key": "k", "ttl": timedelta(microseconds=1), "size": 1})
    with pytest.raises(reaper.RequestError, match="expected Int, found a string"):
        docs.authorize(principal=reaper.Entity("User", "a", {"clearance": Decimal("2.5"), "contractor": False}),
                       action="read", resource=doc(), context=ctx())


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"context": {"source_ip": "10.1.2.3", "mfa": "yes", "now": "2026-01-01T00:00:00Z"}}, "context.mfa", "expected Bool"),
        ({"context": ctx(now=datetime(2026, 1, 1))}, "context.now", "naive datetime"),
        ({"context": ctx(now=datetime(2026, 1, 1).date())}, "context.now", "a date is not a timestamp"),
        ({"context": ctx(mfa=object())}, "context.mfa", "is not a policy value"),
        ({"context": ctx(source_ip=b"10.0.0.1")}, "context.source_ip", "bytes are not a policy value"),
        ({"context": ctx(extra=2**70)}, "context.extra", "64-bit"),
        ({"context": ctx(extra=float("nan"))}, "context.extra", "finite"),
        ({"context": {1: True}}, "context", "keys are strings"),
        ({"principal": 42}, "principal", "expected an entity"),
        ({"principal": ("User",)}, "principal", "expected an entity"),
        ({"action": "raed"}, "action", "unknown action `raed`"),
        ({"resource": reaper.Entity("Doc", "x")}, "resource.type", "unknown entity type `Doc`"),
        ({"entities": "Team::\"eng\""}, "entities", "list of entities"),
        ({"resource": reaper.Entity("Document", "x", {"labels": ["a"]}, parents=5)}, "resource.parents", "list of entities"),
    ],
)
def test_invalid_requests_raise_request_error_naming_the_field(
    docs: reaper.Engine, fields: dict[str, object], field: str, reason: str
) -> None:
    request = {"principal": ALICE, "action": "read", "resource": doc(), "context": ctx(), **fields}
    with pytest.raises(reaper.RequestError) as raised:
        docs.authorize(**request)
    assert raised.value.field == field
    assert reason in raised.value.reason
    assert str(raised.value).startswith(f"`{field}`: ")
    assert isinstance(raised.value, ValueError)


def test_deep_or_self_containing_values_are_refused_not_crashed(docs: reaper.Engine) -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(reaper.RequestError, match="nested more than"):
        docs.authorize(principal=ALICE, action="read", resource=doc(), context=ctx(extra=loop))
    with pytest.raises(reaper.RequestError, match="malformed JSON"):
        docs.authorize("{not json")
    with pytest.raises(TypeError):
        docs.authorize({"action": "read"}, action="read")


def test_a_batch_names_the_request_at_fault(docs: reaper.Engine) -> None:
    good = {"principal": ALICE, "action": "read", "resource": doc(public=True), "context": ctx()}
    decisions = docs.authorize_batch([good, good])
    assert [d.reasons for d in decisions] == [("public-read",)] * 2
    with pytest.raises(reaper.RequestError) as raised:
        docs.authorize_batch([good, good, {**good, "context": {**ctx(), "mfa": 1}}])
    assert raised.value.field == "[2].context.mfa"
    with pytest.raises(reaper.RequestError) as raised:
        docs.authorize_batch([good, 7])
    assert raised.value.field == "[1]"
    assert docs.authorize_batch([]) == []


def test_decisions_are_frozen_values() -> None:
    decision = reaper.Decision(True, ["r"], [("x", "boom")], "abc")
    assert decision == reaper.Decision(True, ("r",), [("x", "boom")], "abc")
    assert decision != reaper.Decision(False, ("r",), [("x", "boom")], "abc")
    assert bool(decision) and not reaper.Decision(False)
    assert decision.to_dict() == {"decision": "allow", "reasons": ["r"], "errors": [{"rule": "x", "error": "boom"}], "policy": "abc"}
    with pytest.raises(AttributeError):
        decision.allowed = False  # type: ignore[misc]
    assert "allowed=True" in repr(decision)


def test_explain_says_which_clause_decided(docs: reaper.Engine) -> None:
    explained = docs.explain(principal=ALICE, action="delete", resource=doc(owner=("User", "alice")), context=ctx(mfa=False))
    assert explained["decision"] == "deny" and explained["reasons"] == ["mfa-delete"]
    outcomes = {c["rule"]: c["outcome"] for c in explained["candidates"]}
    assert outcomes["mfa-delete"] == "applied" and outcomes["owner-all"] == "applied"


def test_held_entities_complete_requests(tmp_path: Path) -> None:
    policy = EXAMPLES / "session-store"
    held = reaper.Engine.from_source(policy, entities=policy / "entities.json")
    bare = reaper.Engine.from_source(policy)
    request = {
        "principal": ("Service", "api"),
        "action": "store.read",
        "resource": ("Store", "sessions"),
        "context": {"source_ip": "10.2.0.15", "mfa": False, "now": NOW, "key": "k"},
    }
    assert held.authorize(**request).reasons == ("backend-sessions",)
    assert not bare.authorize(**request)
    bare.set_entities([reaper.Entity("Service", "api", {"env": "prod"}, [("Team", "backend")])])
    assert bare.authorize(**request).reasons == ("backend-sessions",)
    with pytest.raises(reaper.RequestError) as raised:
        bare.set_entities([reaper.Entity("Service", "api", {"env": 3})])
    assert raised.value.field.startswith("entities")
    # The bad data was refused; the good data stays.
    assert bare.authorize(**request).reasons == ("backend-sessions",)
