"""`reaper.Client` against a real `reaper serve` on loopback: the same
calls, answers and errors as the in-process engine on the same policy."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

import reaper
from conftest import EXAMPLES, REQUESTS, load_request, serve

CONTEXT = {"source_ip": "10.2.0.15", "mfa": False, "now": "2026-03-01T12:00:00Z"}
SESSIONS = EXAMPLES / "session-store"


@pytest.fixture(scope="module")
def session_server() -> Iterator[str]:
    with serve(str(SESSIONS), "--entities", str(SESSIONS / "entities.json")) as url:
        yield url


@pytest.fixture(scope="module")
def gateway_server() -> Iterator[str]:
    with serve(str(EXAMPLES / "api-gateway")) as url:
        yield url


def without_id(decision: reaper.Decision) -> dict:
    out = decision.to_dict()
    out.pop("decision_id", None)
    return out


def test_decisions_match_the_engine(session_server: str) -> None:
    engine = reaper.Engine.from_source(SESSIONS, entities=SESSIONS / "entities.json")
    client = reaper.Client(session_server)
    cases = [load_request(case) for case in sorted((REQUESTS / "session-store").glob("*.json"))]
    valid = [case for case in cases if "entities" not in case]
    assert len(valid) >= 5
    for request in valid:
        remote = client.authorize(request)
        assert remote.decision_id  # the server's
        assert without_id(remote) == without_id(engine.authorize(request))
    # Python forms, converted by the same code.
    fields = {"principal": ("Service", "api"), "action": "store.read", "resource": ("Store", "sessions"),
              "context": {**CONTEXT, "key": "k"}}
    assert without_id(client.authorize(**fields)) == without_id(engine.authorize(**fields))
    assert [without_id(d) for d in client.authorize_batch(valid)] == [without_id(d) for d in engine.authorize_batch(valid)]
    client.close()


def test_errors_match_the_engine(session_server: str) -> None:
    engine = reaper.Engine.from_source(SESSIONS, entities=SESSIONS / "entities.json")
    client = reaper.Client(session_server)
    bad = {"principal": ("Service", "api"), "action": "store.read", "resource": ("Store", "sessions"),
           "context": {**CONTEXT, "mfa": "no", "key": "k"}}
    for decider in (engine, client):
        with pytest.raises(reaper.RequestError) as raised:
            decider.authorize(**bad)
        assert (raised.value.field, raised.value.reason) == ("context.mfa", "expected Bool, found a string")
        with pytest.raises(reaper.RequestError) as raised:
            decider.authorize_batch([{k: v for k, v in bad.items() if k != "context"} | {"context": {**CONTEXT, "key": "k"}}, bad])
        assert raised.value.field == "[1].context.mfa"


def test_the_store_behaves_alike(session_server: str) -> None:
    engine = reaper.Engine.from_source(SESSIONS, entities=SESSIONS / "entities.json")
    client = reaper.Client(session_server)
    for owner in (engine, client):
        api = owner.store("sessions", principal=("Service", "api"), context=CONTEXT)
        auth = owner.store("sessions", principal=("Service", "auth"), context=CONTEXT)
        key = "user:ana:/ é?"  # quoted in the URL
        expires = api.put(key, b"\x00hello", ttl="2h")
        entry = api.get_entry(key)
        assert entry is not None and entry.value == b"\x00hello" and entry.expires_at == expires
        with pytest.raises(reaper.StoreError) as raised:
            api.put(key, "again", create_only=True)
        assert raised.value.code == "key_exists"
        with pytest.raises(reaper.Denied) as denied:
            api.delete(key)
        assert not denied.value.decision.allowed
        assert auth.delete(key) is True
        assert auth.delete(key) is False
        assert api.get(key) is None
        for namespace, kwargs, code in (("nowhere", {}, "no_such_namespace"), ("sessions", {"ttl": "25h"}, "ttl_above_max"),
                                        ("sessions", {"ttl": "soon"}, "invalid_ttl")):
            with pytest.raises(reaper.StoreError) as raised:
                owner.store(namespace, principal=("Service", "api"), context=CONTEXT).put("k", "v", **kwargs)
            assert raised.value.code == code, (owner, namespace)


def test_rate_limits_count_on_the_server(gateway_server: str) -> None:
    client = reaper.Client(gateway_server)
    login = [{"path": "/v1/login", "remote_address": "10.0.0.1"}]
    answers = [client.rate_limit("api", login) for _ in range(6)]
    assert [a.allowed for a in answers] == [True] * 5 + [False]
    status = answers[-1].statuses[0]
    assert (status.limit, status.requests_per_unit, status.unit, status.remaining) == ("login", 5, "MINUTE", 0)
    assert client.rate_limit("api", [{"remote_address": "10.0.0.9"}], hits=100).allowed
    assert not client.rate_limit("api", [{"remote_address": "10.0.0.9"}])
    unknown = client.rate_limit("nope", login)
    assert unknown.allowed and unknown.unknown_domain


def test_one_connection_is_reused(gateway_server: str) -> None:
    client = reaper.Client(gateway_server)
    client.rate_limit("api", [{"remote_address": "10.3.3.3"}])
    first = client._local.connection.sock
    for _ in range(20):
        client.rate_limit("api", [{"remote_address": "10.3.3.3"}])
    assert client._local.connection.sock is first


def test_async_calls_run_in_the_executor(session_server: str) -> None:
    client = reaper.Client(session_server)

    async def main() -> list[reaper.Decision]:
        request = {"principal": ("Service", "api"), "action": "store.read", "resource": ("Store", "sessions"),
                   "context": {**CONTEXT, "key": "k"}}
        store = client.store("sessions", principal=("Service", "api"), context=CONTEXT)
        await store.put_async("async", "v")
        assert await store.get_async("async") == b"v"
        return list(await asyncio.gather(*(client.authorize_async(request) for _ in range(8))))

    assert all(d.reasons == ("backend-sessions",) for d in asyncio.run(main()))


def test_a_dead_server_is_a_service_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = reaper.Client(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(reaper.ServiceError) as raised:
        client.authorize(principal=("Service", "api"), action="store.read", resource=("Store", "sessions"))
    assert isinstance(raised.value, ConnectionError) and raised.value.status == 0
    with pytest.raises(ValueError):
        reaper.Client("127.0.0.1:8080")
