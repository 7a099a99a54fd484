"""`authorize` per call from Python: reaper (the `reaper` wheel, release
build) against cedarpy on the equivalent document-sharing policy, in the
same run, plus batch throughput. Run it with `bash benches/python/run.sh`
(builds the release wheel and installs cedarpy into target/python-venv).

Each figure is the median of REPEATS timed loops of about LOOP_SECONDS
each; the run is bounded (a few seconds per row)."""

from __future__ import annotations

import ipaddress
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import cedarpy

import reaper

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "benches" / "compare" / "policies" / "document-sharing"
REPEATS = int(os.environ.get("REPEATS", "5"))
LOOP_SECONDS = float(os.environ.get("LOOP_SECONDS", "0.3"))
BATCH = 1_000


def per_call(call: Callable[[], object]) -> float:
    """Median seconds per call."""
    call()
    n, took = 1, 0.0
    while took < LOOP_SECONDS / 4:  # calibrate
        n *= 2
        start = time.perf_counter()
        for _ in range(n):
            call()
        took = time.perf_counter() - start
    n = max(1, int(n * LOOP_SECONDS / took))
    samples = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(n):
            call()
        samples.append((time.perf_counter() - start) / n)
    return statistics.median(samples)


def thread_scaling(engine: reaper.Engine, batch: list[str]) -> dict[int, float]:
    """Decisions a second with 1 and 2 threads each deciding batches for
    LOOP_SECONDS (median of REPEATS)."""
    import threading

    out = {}
    for threads in (1, 2):
        rates = []
        for _ in range(REPEATS):
            counts = [0] * threads
            deadline = time.perf_counter() + LOOP_SECONDS

            def work(slot: int) -> None:
                while time.perf_counter() < deadline:
                    engine.authorize_batch(batch)
                    counts[slot] += len(batch)

            start = time.perf_counter()
            workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            rates.append(sum(counts) / (time.perf_counter() - start))
        out[threads] = statistics.median(rates)
    return out


def main() -> None:
    engine = reaper.Engine.from_source(ROOT / "examples" / "document-sharing")
    reaper_request = json.loads((POLICIES / "request.reaper.json").read_text())
    reaper_text = json.dumps(reaper_request)
    by_uid = {(e["type"], e["id"]): e for e in reaper_request["entities"]}

    def entity(data: dict) -> reaper.Entity:
        full = by_uid.get((data["type"], data["id"]), data)
        return reaper.Entity(full["type"], full["id"], full.get("attrs"), [(p["type"], p["id"]) for p in full.get("parents", [])])

    python_form = {
        "principal": entity(reaper_request["principal"]),
        "action": reaper_request["action"],
        "resource": entity(reaper_request["resource"]),
        "context": {"source_ip": ipaddress.ip_address("10.1.2.3"), "mfa": True,
                    "now": datetime(2026, 1, 1, tzinfo=timezone.utc)},
        "entities": [entity(e) for e in reaper_request["entities"]
                     if (e["type"], e["id"]) not in {(reaper_request["principal"]["type"], reaper_request["principal"]["id"]),
                                                      (reaper_request["resource"]["type"], reaper_request["resource"]["id"])}],
    }

    cedar_request = json.loads((POLICIES / "request.cedar.json").read_text())
    cedar_entities = cedar_request.pop("entities")
    policies_text = (POLICIES / "policies.cedar").read_text()
    schema_text = (POLICIES / "schema.cedarschema").read_text()
    policy_set = cedarpy.PolicySet.from_str(policies_text)
    schema = cedarpy.Schema.from_str(schema_text)
    entities_handle = cedarpy.Entities.from_json_str(json.dumps(cedar_entities))

    # The entity data held by the engine (as an Entities handle holds it for
    # cedarpy): requests carry references only.
    all_entities = [reaper_request["principal"], reaper_request["resource"], *reaper_request["entities"]]
    held = reaper.Engine.from_source(ROOT / "examples" / "document-sharing", entities=json.dumps(all_entities))
    reference = lambda e: {"type": e["type"], "id": e["id"]}  # noqa: E731
    held_request = {"principal": reference(reaper_request["principal"]), "action": reaper_request["action"],
                    "resource": reference(reaper_request["resource"]), "context": reaper_request["context"]}
    assert held.authorize(held_request) == engine.authorize(reaper_request)

    reaper_decision = engine.authorize(reaper_request)
    cedar_decision = cedarpy.is_authorized(cedar_request, policy_set, cedar_entities, schema)
    assert reaper_decision.allowed and cedar_decision.allowed, (reaper_decision, cedar_decision)
    assert engine.authorize(**python_form) == reaper_decision
    assert engine.authorize(reaper_text) == reaper_decision

    rows: list[tuple[str, float]] = []

    def row(name: str, call: Callable[[], object]) -> float:
        seconds = per_call(call)
        rows.append((name, seconds))
        print(f"  {name:<72} {seconds * 1e6:9.2f} µs", flush=True)
        return seconds

    print(f"python {platform.python_version()}, cedarpy {cedarpy.__version__ if hasattr(cedarpy, '__version__') else '4.x'}, "
          f"{os.cpu_count()} cores, {REPEATS}×{LOOP_SECONDS}s per row, medians")
    print("per call:")
    r_dict = row("reaper: authorize(request dict)", lambda: engine.authorize(reaper_request))
    r_python = row("reaper: authorize(principal=Entity(...), ..., context with ip/datetime)", lambda: engine.authorize(**python_form))
    r_text = row("reaper: authorize(JSON text)", lambda: engine.authorize(reaper_text))
    r_held = row("reaper: authorize(references dict), entities held by the engine", lambda: held.authorize(held_request))
    c_handles = row("cedarpy: is_authorized(request, PolicySet, entities list, Schema)",
                    lambda: cedarpy.is_authorized(cedar_request, policy_set, cedar_entities, schema))
    c_all_handles = row("cedarpy: is_authorized(request, PolicySet, Entities handle, Schema)",
                        lambda: cedarpy.is_authorized(cedar_request, policy_set, entities_handle, schema))
    c_strings = row("cedarpy: is_authorized(request, policy text, entities list, schema text)",
                    lambda: cedarpy.is_authorized(cedar_request, policies_text, cedar_entities, schema_text))

    print(f"batch of {BATCH} (per request):")
    reaper_batch = [reaper_request] * BATCH
    text_batch = [reaper_text] * BATCH
    rb = row("reaper: authorize_batch(dicts)", lambda: engine.authorize_batch(reaper_batch)) / BATCH
    rt = row("reaper: authorize_batch(JSON texts)", lambda: engine.authorize_batch(text_batch)) / BATCH
    cedar_batch = [cedar_request] * BATCH
    cb = row("cedarpy: is_authorized_batch(requests, PolicySet, entities list, Schema)",
             lambda: cedarpy.is_authorized_batch(cedar_batch, policy_set, cedar_entities, schema)) / BATCH

    print("threads (authorize_batch of JSON texts; the GIL is released while deciding):")
    scaling = thread_scaling(engine, text_batch)
    for threads, rate in scaling.items():
        print(f"  {threads} thread(s): {rate / 1e6:.2f} M decisions/s")

    print("ratios (cedarpy time / reaper time, same run):")
    print(f"  per call, dict vs cedarpy with PolicySet+Schema handles:  {c_handles / r_dict:6.1f}×")
    print(f"  per call, held entities, both sides:                     {c_all_handles / r_held:6.1f}×")
    print(f"  per call, dict vs cedarpy with every handle (Entities too): {c_all_handles / r_dict:6.1f}×")
    print(f"  per call, Python forms vs cedarpy with handles:          {c_handles / r_python:6.1f}×")
    print(f"  per call, JSON text vs cedarpy with handles:             {c_handles / r_text:6.1f}×")
    print(f"  per call, dict vs cedarpy parsing strings every call:    {c_strings / r_dict:6.1f}×")
    print(f"  batch: reaper {1 / rb / 1e6:.2f} M/s (dicts), {1 / rt / 1e6:.2f} M/s (texts); "
          f"cedarpy {1 / cb / 1e3:.1f} k/s; ratio {cb / rb:.1f}× (dicts)")
    print(f"  threads: 2 threads decide {scaling[2] / scaling[1]:.2f}× what 1 does")
    if "--check" in sys.argv and c_handles / r_dict < 10:
        sys.exit(f"reaper is only {c_handles / r_dict:.1f}× cedarpy per call (target ≥ 10×)")


if __name__ == "__main__":
    main()
