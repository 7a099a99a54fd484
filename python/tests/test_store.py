"""The TTL store in process: every access authorized by the policy, TTLs
and limits from the namespace, expiry by an injected clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import reaper
from conftest import FakeClock

CONTEXT = {"source_ip": "10.2.0.15", "mfa": False, "now": "2026-03-01T12:00:00Z"}


@pytest.fixture
def store(sessions: reaper.Engine) -> reaper.Store:
    return sessions.store("sessions", principal=("Service", "api"), context=CONTEXT)


def test_put_get_delete(store: reaper.Store, clock: FakeClock) -> None:
    expires = store.put("user:ana:1", "hello", ttl=timedelta(hours=2))
    assert expires == datetime.fromtimestamp(clock.now + 7200, tz=timezone.utc)
    assert store.get("user:ana:1") == b"hello"
    entry = store.get_entry("user:ana:1")
    assert entry is not None and entry.value == b"hello" and entry.expires_at == expires
    store.put("user:ana:1", b"\x00bytes")
    assert store.get("user:ana:1") == b"\x00bytes"
    assert store.get("nothing") is None


def test_values_expire_by_their_ttl_or_the_namespace_default(store: reaper.Store, clock: FakeClock) -> None:
    store.put("short", "v", ttl="10s")
    store.put("default", "v")  # the namespace's ttl: 30m
    store.put("seconds", "v", ttl=90)
    clock.advance(10)
    assert store.get("short") is None and store.get("default") == b"v"
    clock.advance(80)
    assert store.get("seconds") is None
    clock.advance(30 * 60 - 90)
    assert store.get("default") is None


def test_deletes_are_authorized_separately(sessions: reaper.Engine) -> None:
    api = sessions.store("sessions", principal=("Service", "api"), context=CONTEXT)
    auth = sessions.store("sessions", principal=("Service", "auth"), context=CONTEXT)
    api.put("k", "v")
    with pytest.raises(reaper.Denied) as denied:
        api.delete("k")
    assert isinstance(denied.value, PermissionError)
    assert not denied.value.decision.allowed
    assert 'store.delete on Store::"sessions"' in str(denied.value)
    assert auth.delete("k") is True
    assert auth.delete("k") is False


def test_the_policy_sees_ttl_and_size(sessions: reaper.Engine) -> None:
    ana = sessions.store("sessions", principal=reaper.Entity("User", "ana", {"suspended": False}, [("Team", "backend")]),
                         context=CONTEXT)
    ana.put("user:ana:2", "v", ttl="8h")
    with pytest.raises(reaper.Denied) as denied:
        ana.put("user:ana:2", "v", ttl="9h")
    assert denied.value.decision.reasons == ("user-sessions-expire",)


@pytest.mark.parametrize(
    ("namespace", "kwargs", "code"),
    [
        ("nowhere", {}, "no_such_namespace"),
        ("sessions", {"ttl": "25h"}, "ttl_above_max"),
        ("sessions", {"ttl": "soon"}, "invalid_ttl"),
        ("sessions", {"ttl": "0s"}, "invalid_ttl"),
        ("sessions", {"value": "x" * (16 * 1024 + 1)}, "value_too_large"),
    ],
)
def test_namespace_limits_raise_store_errors(sessions: reaper.Engine, namespace: str, kwargs: dict, code: str) -> None:
    handle = sessions.store(namespace, principal=("Service", "api"), context=CONTEXT)
    value = kwargs.pop("value", "v")
    with pytest.raises(reaper.StoreError) as raised:
        handle.put("k", value, **kwargs)
    assert raised.value.code == code


def test_max_keys_refuses_new_keys_until_old_ones_expire(sessions: reaper.Engine, clock: FakeClock) -> None:
    attempts = sessions.store("login_attempts", principal=("Service", "auth"), context=CONTEXT)
    # login_attempts: max_keys 100_000 is too many for a test; fill a fresh
    # policy with a small one instead.
    small = reaper.Engine.from_source(
        {
            "p.reaper": "entity Service\n"
            "store tiny by Service { ttl 1m, max_keys 2 }\n"
            "permit [store.read, store.write, store.delete] on store tiny;\n"
        },
        clock=clock,
    )
    tiny = small.store("tiny", principal=("Service", "a"))
    tiny.put("a", "1", ttl="10s")
    tiny.put("b", "2")
    tiny.put("b", "overwrite is not a new key")
    with pytest.raises(reaper.StoreError) as raised:
        tiny.put("c", "3")
    assert raised.value.code == "namespace_full"
    clock.advance(11)
    tiny.put("c", "3")  # `a` expired: its place is free
    assert attempts.get("anything") is None


def test_create_only(store: reaper.Store, clock: FakeClock) -> None:
    store.put("lock", "me", ttl="5s", create_only=True)
    with pytest.raises(reaper.StoreError) as raised:
        store.put("lock", "you", create_only=True)
    assert raised.value.code == "key_exists"
    clock.advance(5)
    store.put("lock", "you", create_only=True)
    assert store.get("lock") == b"you"


def test_the_principal_comes_from_the_call_the_handle_or_acting_as(sessions: reaper.Engine) -> None:
    anonymous = sessions.store("sessions", context=CONTEXT)
    with pytest.raises(reaper.RequestError) as raised:
        anonymous.get("k")
    assert raised.value.field == "principal"
    anonymous.put("k", "v", principal=("Service", "api"))
    with reaper.acting_as(("Service", "api"), CONTEXT):
        assert sessions.store("sessions").get("k") == b"v"
    with pytest.raises(reaper.RequestError) as raised:
        anonymous.get("k", principal=("Service", "api"), context={"mfa": "no"})
    assert raised.value.field.startswith("context")


def test_expired_keys_are_purged_as_writes_go(clock: FakeClock) -> None:
    engine = reaper.Engine.from_source(
        {"p.reaper": "entity S\nstore s by S { ttl 1s }\npermit [store.read, store.write] on store s;\n"}, clock=clock
    )
    handle = engine.store("s", principal=("S", "x"))
    for i in range(100):
        handle.put(f"k{i}", "v")
    assert engine._store_stats()["s"][0] == 100
    clock.advance(3)
    handle.put("fresh", "v")
    assert engine._store_stats()["s"][0] == 1
