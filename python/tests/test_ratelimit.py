"""Rate limits in process: the in-memory counters, an injected clock, and
the answer `reaper eval --ratelimit` (and `/v1/ratelimit`) gives."""

from __future__ import annotations

import json
import subprocess
import threading
from datetime import timedelta

import pytest

import reaper
from conftest import EXAMPLES, FakeClock, reaper_bin

LOGIN = [{"path": "/v1/login", "remote_address": "10.0.0.1"}]


def test_a_limit_trips_and_resets_with_its_window(gateway: reaper.Engine, clock: FakeClock) -> None:
    answers = [gateway.rate_limit("api", LOGIN) for _ in range(6)]
    assert [a.allowed for a in answers] == [True] * 5 + [False]
    status = answers[-1].statuses[0]
    assert (status.code, status.limit, status.requests_per_unit, status.unit) == ("OVER_LIMIT", "login", 5, "MINUTE")
    assert status.remaining == 0 and not status.allowed and not answers[-1]
    assert timedelta(0) < status.reset_after <= timedelta(minutes=1)
    by_name = {limit.name: limit for limit in status.limits}
    assert by_name["login"].period == timedelta(minutes=1) and not by_name["login"].allowed
    assert by_name["per_ip"].allowed and by_name["per_ip"].remaining == 94
    clock.advance(60)
    assert gateway.rate_limit("api", LOGIN).allowed


def test_hits_count_several_and_descriptors_take_pairs(gateway: reaper.Engine) -> None:
    pairs = [[("path", "/v1/login"), ("remote_address", "10.0.0.2")]]
    assert gateway.rate_limit("api", pairs, hits=5).allowed
    assert not gateway.rate_limit("api", pairs).allowed


def test_same_answer_as_reaper_eval(tmp_path, clock: FakeClock) -> None:
    engine = reaper.Engine.from_source(EXAMPLES / "api-gateway", clock=clock)
    request = tmp_path / "rl.json"
    request.write_text(json.dumps({"domain": "api", "descriptors": [{"entries": [
        {"key": "path", "value": "/v1/login"}, {"key": "remote_address", "value": "10.0.0.3"}]}]}))
    cli = subprocess.run(
        [reaper_bin(), "eval", str(EXAMPLES / "api-gateway"), "--ratelimit", str(request), "--repeat", "6",
         "--now", "2026-05-01T09:00:00Z"],
        capture_output=True, text=True, check=True,
    )
    expected = [json.loads(line) for line in cli.stdout.splitlines()]
    clock.now = 1_777_626_000.0  # 2026-05-01T09:00:00Z
    got = [engine._rate_limit("api", [{"path": "/v1/login", "remote_address": "10.0.0.3"}]) for _ in range(6)]
    for row in expected:
        row.pop("hit")
    assert got == expected
    assert [reaper.RateLimitResult._from_json(g).allowed for g in got] == [True] * 5 + [False]


def test_an_unknown_domain_is_ok_and_said(gateway: reaper.Engine) -> None:
    answer = gateway.rate_limit("nope", LOGIN)
    assert answer.allowed and answer.unknown_domain and [s.code for s in answer.statuses] == ["OK"]


@pytest.mark.parametrize(
    ("descriptors", "hits", "field"),
    [
        ("path", 1, "descriptors"),
        ([{"path": 3}], 1, "descriptors[0].entries[0]"),
        ([["path"]], 1, "descriptors[0]"),
        ([5], 1, "descriptors[0]"),
        (LOGIN, 0, "hits"),
    ],
)
def test_bad_descriptors_name_the_field(gateway: reaper.Engine, descriptors, hits, field) -> None:
    with pytest.raises(reaper.RequestError) as raised:
        gateway.rate_limit("api", descriptors, hits=hits)
    assert raised.value.field == field


def test_many_threads_share_exact_counters(clock: FakeClock) -> None:
    engine = reaper.Engine.from_source(EXAMPLES / "api-gateway", clock=clock)
    allowed = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def hammer() -> None:
        start.wait()
        mine = 0
        for _ in range(50):
            # per_ip: 100 per 10s for this address; nothing else applies.
            if engine.rate_limit("api", [{"remote_address": "10.9.9.9"}]).allowed:
                mine += 1
        with lock:
            allowed.append(mine)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(allowed) == 8
    # 400 hits on a limit of 100: exactly 100 got through, whatever the interleaving.
    assert sum(allowed) == 100
