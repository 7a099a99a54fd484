"""One engine, many threads: the same decisions as one thread, and the GIL
released while deciding (measured against a call that holds it)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import reaper
from conftest import REQUESTS, load_request

CASES = sorted((REQUESTS / "document-sharing").glob("*.json"))


def test_threads_see_the_decisions_one_thread_sees(docs: reaper.Engine) -> None:
    requests = [load_request(case) for case in CASES]
    expected = [docs.authorize(r) for r in requests]
    failures: list[str] = []
    start = threading.Barrier(8)

    def worker(seed: int) -> None:
        start.wait()
        for i in range(400):
            k = (seed + i) % len(requests)
            got = docs.authorize(requests[k]) if i % 2 else docs.authorize_batch([requests[k]])[0]
            if got != expected[k]:
                failures.append(f"thread {seed}, request {k}: {got!r}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures


def spin_rate_during(call: Callable[[], object]) -> tuple[float, float]:
    """How fast a pure-Python loop in another thread counts while `call`
    runs, as a fraction of how fast it counts while this thread sleeps;
    and how long `call` took."""
    counter = 0
    stop = False

    def spin() -> None:
        nonlocal counter
        while not stop:
            counter += 1

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        time.sleep(0.02)
        c0, t0 = counter, time.perf_counter()
        time.sleep(0.2)
        idle_rate = (counter - c0) / (time.perf_counter() - t0)
        c0, t0 = counter, time.perf_counter()
        call()
        elapsed = time.perf_counter() - t0
        busy_rate = (counter - c0) / elapsed
    finally:
        stop = True
        spinner.join()
    return busy_rate / idle_rate, elapsed


def test_deciding_releases_the_gil(docs: reaper.Engine) -> None:
    # JSON text: converting it takes no time, so the call is nearly all
    # decoding and deciding, which run without the GIL.
    texts = [json.dumps(load_request(case)) for case in CASES] * 4_000
    released, took = spin_rate_during(lambda: docs.authorize_batch(texts))
    # The control: a C loop that holds the GIL throughout.
    held, _ = spin_rate_during(lambda: sum(range(40_000_000)))
    print(f"\nGIL: another thread ran at {released:.0%} of its idle speed during a {took * 1000:.0f} ms batch, "
          f"{held:.0%} during a GIL-holding sum()")
    assert held < 0.1
    assert released > 0.3
