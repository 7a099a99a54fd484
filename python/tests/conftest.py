"""Shared fixtures: the repository's examples, the `reaper` binary the
suite compares with and serves from (REAPER_BIN, set by
scripts/python.sh), a clock the tests move by hand, and `reaper serve`
started on free loopback ports."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import reaper

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
REQUESTS = Path(__file__).resolve().parent / "requests"


def reaper_bin() -> str:
    path = os.environ.get("REAPER_BIN") or str(ROOT / "target" / "debug" / "reaper")
    if not os.access(path, os.X_OK):
        pytest.fail(f"no reaper binary at {path}: run `cargo build -p reaper-cli` or set REAPER_BIN")
    return path


class FakeClock:
    """Seconds since the epoch, moved only by `advance`."""

    def __init__(self, start: float = 1_780_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def docs() -> reaper.Engine:
    return reaper.Engine.from_source(EXAMPLES / "document-sharing")


@pytest.fixture
def sessions(clock: FakeClock) -> reaper.Engine:
    return reaper.Engine.from_source(
        EXAMPLES / "session-store", entities=EXAMPLES / "session-store" / "entities.json", clock=clock
    )


@pytest.fixture
def gateway(clock: FakeClock) -> reaper.Engine:
    return reaper.Engine.from_source(EXAMPLES / "api-gateway", clock=clock)


def load_request(path: Path) -> dict:
    return json.loads(path.read_text())


@contextlib.contextmanager
def serve(*args: str, timeout: float = 60.0) -> Iterator[str]:
    """`reaper serve ARGS` on free loopback ports; yields its HTTP URL and
    stops it (SIGINT, then SIGKILL) afterwards."""
    command = [reaper_bin(), "serve", *args, "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--log-format", "json"]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert child.stderr is not None
        for line in child.stderr:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    seen = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail("reaper serve did not become ready:\n" + "".join(seen))
            seen.append(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("message") == "reaper serve is ready":
                yield f"http://{event['http']}"
                return
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
