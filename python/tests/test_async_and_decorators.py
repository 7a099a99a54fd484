"""The asyncio variants, `@reaper.enforce`, `reaper.acting_as` and the
policy scope (`engine.using`)."""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import datetime, timezone

import pytest

import reaper
from conftest import EXAMPLES, FakeClock

CONTEXT = {"source_ip": ipaddress.ip_address("10.1.2.3"), "mfa": True, "now": datetime(2026, 1, 1, tzinfo=timezone.utc)}
ALICE = reaper.Entity("User", "alice", {"clearance": 2, "contractor": False}, [("Team", "eng")])
DOCUMENTS = {
    "plan": reaper.Entity("Document", "plan", {"owner": ("User", "alice"), "public": False, "labels": [], "editors": []}),
    "memo": reaper.Entity("Document", "memo", {"owner": ("User", "bob"), "public": False, "labels": [], "editors": []}),
}
PERMIT_ALL = "entity User\nentity Document\naction read on Document by User\npermit read on Document;\n"


def test_async_variants(docs: reaper.Engine, sessions: reaper.Engine, gateway: reaper.Engine) -> None:
    async def main() -> None:
        decision = await docs.authorize_async(principal=ALICE, action="read", resource=DOCUMENTS["plan"], context=CONTEXT)
        assert decision.reasons == ("owner-all",)
        batch = await docs.authorize_batch_async(
            [{"principal": ALICE, "action": "read", "resource": DOCUMENTS[name], "context": CONTEXT} for name in ("plan", "memo")]
        )
        assert [d.allowed for d in batch] == [True, False]
        limited = await gateway.rate_limit_async("api", [{"remote_address": "10.1.1.1"}], hits=100)
        assert limited.allowed and not (await gateway.rate_limit_async("api", [{"remote_address": "10.1.1.1"}]))
        store = sessions.store("sessions", principal=("Service", "api"),
                               context={"source_ip": "10.2.0.15", "mfa": False, "now": "2026-03-01T12:00:00Z"})
        await store.put_async("k", "v")
        assert await store.get_async("k") == b"v"
        assert (await store.get_entry_async("k")).value == b"v"
        assert await store.delete_async("k", principal=("Service", "auth"))
        with pytest.raises(reaper.RequestError):
            await docs.authorize_async(principal=7, action="read")

    asyncio.run(main())


def test_enforce_guards_sync_and_async_functions(docs: reaper.Engine) -> None:
    calls: list[str] = []

    @reaper.enforce(docs, action="read", resource=lambda doc_id: DOCUMENTS[doc_id], context=CONTEXT)
    def read(doc_id: str, verbose: bool = False) -> str:
        calls.append(doc_id)
        return f"contents of {doc_id}"

    @reaper.enforce(docs, action="edit", resource=lambda doc_id: DOCUMENTS[doc_id], principal=ALICE,
                    context=lambda **arguments: CONTEXT)
    async def edit(doc_id: str) -> str:
        calls.append(f"edit {doc_id}")
        return "edited"

    with pytest.raises(reaper.RequestError) as raised:
        read("plan")  # nobody is acting
    assert raised.value.field == "principal"
    with reaper.acting_as(ALICE):
        assert read("plan") == "contents of plan"
        with pytest.raises(reaper.Denied) as denied:
            read(doc_id="memo")
        assert not denied.value.decision and "read" in str(denied.value)
    assert read.__name__ == "read"
    assert asyncio.run(edit("plan")) == "edited"
    with pytest.raises(reaper.Denied):
        asyncio.run(edit("memo"))
    assert calls == ["plan", "edit plan"]


def test_acting_as_is_per_task() -> None:
    async def who() -> object:
        await asyncio.sleep(0)
        return reaper._common.current_caller()[0]

    async def main() -> list[object]:
        async def as_(name: str) -> object:
            with reaper.acting_as(("User", name)):
                return await who()

        return list(await asyncio.gather(as_("a"), as_("b")))

    assert asyncio.run(main()) == [("User", "a"), ("User", "b")]


def test_using_swaps_the_policy_for_a_scope(clock: FakeClock) -> None:
    engine = reaper.Engine.from_source(EXAMPLES / "api-gateway", clock=clock)
    original = engine.policy_hash
    request = {"principal": ("User", "x"), "action": "read", "resource": ("Document", "d")}
    with pytest.raises(reaper.RequestError):
        engine.authorize(**request)  # no such action in the gateway policy
    with engine.using(PERMIT_ALL) as scoped:
        assert scoped is engine and engine.authorize(**request).allowed
        assert engine.policy_hash != original
    assert engine.policy_hash == original
    with pytest.raises(RuntimeError), engine.using(reaper.Engine.from_source(PERMIT_ALL)):
        raise RuntimeError("the block fails")
    assert engine.policy_hash == original
    with pytest.raises(reaper.PolicyError):
        with engine.using("permit nothing on Nowhere;"):
            pass
    assert engine.policy_hash == original
    # Counters live across swaps, as across a reload of `reaper serve`.
    engine.rate_limit("api", [{"remote_address": "10.7.7.7"}], hits=60)
    with engine.using(engine.bundle):
        assert engine.rate_limit("api", [{"remote_address": "10.7.7.7"}], hits=40).allowed
    assert not engine.rate_limit("api", [{"remote_address": "10.7.7.7"}])
    engine.replace(PERMIT_ALL)
    assert engine.authorize(**request).allowed
