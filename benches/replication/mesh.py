#!/usr/bin/env python3
"""Mesh convergence and overshoot (docs/benchmarks.md, "Replicated backends").

Starts three `reaper serve --backend mesh` nodes of examples/replicated on
free loopback ports and measures, each over TRIALS fresh keys:

- counter convergence: node a admits 50 hits of a fresh user, then node b is
  asked until its answer includes them (b's own probes are accounted for);
  the time from a's last answer to b's first converged one;
- store convergence: a PUT on a, then GETs on b and c until both have it;
- overshoot: CLIENTS threads per node send hits of one fresh user (limit
  100 per minute) as fast as they are answered, 300 in all; the hits
  admitted past 100, with the request rate reached;
- the same under a partition (c cut off from a and b through the admin API),
  then, once healed, how long until a counts the hits c made meanwhile.

Every run is bounded in count and time; everything started is stopped.
    python3 benches/replication/mesh.py            # after a release build
    TRIALS=50 python3 benches/replication/mesh.py
"""

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REAPER = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "reaper")
EXAMPLE = os.path.join(ROOT, "examples", "replicated")
TRIALS = int(os.environ.get("TRIALS", "20"))
CLIENTS = int(os.environ.get("CLIENTS", "4"))
TOKEN = "mesh-bench-token"
DEADLINE = 10.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, name, mesh_port, peers, token_file):
        self.name = name
        self.http = free_port()
        self.proc = subprocess.Popen(
            [REAPER, "serve", EXAMPLE, "--config", os.path.join(EXAMPLE, f"mesh-{name}.toml"),
             "--entities", os.path.join(EXAMPLE, "entities.json"), "--no-watch",
             "--http", f"127.0.0.1:{self.http}", "--grpc", "off", "--threads", "1",
             "--admin-token-file", token_file,
             "--mesh-addr", f"127.0.0.1:{mesh_port}", "--peers", ",".join(peers)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        for _ in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.http, timeout=5)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                reply = self.conn.getresponse()
                return reply.status, reply.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                self.conn = None
        raise RuntimeError(f"node {self.name}: no answer to {method} {path}")

    def hit(self, user):
        body = json.dumps({"domain": "api", "descriptors": [{"entries": [{"key": "user_id", "value": user}]}]})
        status, data = self.request("POST", "/v1/ratelimit", body, {"content-type": "application/json"})
        reply = json.loads(data)
        return reply["overall_code"] == "OK", reply["statuses"][0]["limits"][0]["remaining"]

    def alive_peers(self):
        status, data = self.request("GET", "/v1/status")
        return sum(1 for p in json.loads(data)["backend"]["health"].get("peers", []) if p["alive"])

    def block(self, nodes):
        status, _ = self.request("PUT", "/v1/admin/mesh/blocked", json.dumps({"nodes": nodes}),
                                 {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"})
        assert status == 200, status


def wait(what, check, timeout=DEADLINE):
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{what}: not within {timeout}s")
        time.sleep(0.002)
    return time.monotonic() - started


def fresh_minute(margin):
    into = time.time() % 60
    if 60 - into < margin:
        time.sleep(60 - into + 0.2)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def until_counted(node, user, hits, what, timeout=DEADLINE):
    """How long until `node` counts the `hits` made elsewhere for `user`
    (limit 100): its own probe hits are accounted for."""
    started = time.monotonic()
    probes = [0]

    def counted():
        probes[0] += 1
        _, remaining = node.hit(user)
        return remaining == 100 - hits - probes[0]

    wait(what, counted, timeout)
    return time.monotonic() - started


def overshoot(nodes, user, total=300):
    admitted = [0]
    lock = threading.Lock()
    per_thread = total // (len(nodes) * CLIENTS)

    def run(node):
        mine = Node.__new__(Node)
        mine.name, mine.http, mine.conn = node.name, node.http, None
        for _ in range(per_thread):
            ok, _ = mine.hit(user)
            if ok:
                with lock:
                    admitted[0] += 1

    threads = [threading.Thread(target=run, args=(n,)) for n in nodes for _ in range(CLIENTS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return admitted[0], per_thread * len(threads) / elapsed


def main():
    if not os.path.exists(REAPER):
        sys.exit(f"{REAPER} is missing: cargo build --release -p reaper-cli")
    tmp = tempfile.mkdtemp()
    token_file = os.path.join(tmp, "token")
    with open(token_file, "w") as f:
        f.write(TOKEN)
    ports = [free_port() for _ in range(3)]
    names = ["a", "b", "c"]
    nodes = []
    try:
        for i, name in enumerate(names):
            peers = [f"127.0.0.1:{ports[j]}" for j in range(3) if j != i]
            nodes.append(Node(name, ports[i], peers, token_file))
        for node in nodes:
            wait("start", lambda: _ready(node), 60)
        formed = max(wait("membership", lambda n=n: n.alive_peers() == 2, 30) for n in nodes)
        a, b, c = nodes
        print(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, {os.cpu_count()} cores, "
              f"3 nodes (1 thread each) on loopback, batch_interval 15ms, quorum 2 of 3; "
              f"membership formed in {formed * 1000:.0f} ms")

        counter, store = [], []
        for trial in range(TRIALS):
            fresh_minute(5)
            user = f"conv-{os.getpid()}-{trial}"
            for _ in range(50):
                a.hit(user)
            counter.append(until_counted(b, user, 50, "counter convergence"))
            key = f"conv-{os.getpid()}-{trial}"
            status, _ = a.request("PUT", f"/v1/store/sessions/{key}?ttl=10m", b"v",
                                  {"x-reaper-principal": 'Service::"api"'})
            assert status == 201, status
            done = time.monotonic()
            wait("store convergence", lambda: all(
                n.request("GET", f"/v1/store/sessions/{key}", None,
                          {"x-reaper-principal": 'Service::"api"'})[0] == 200 for n in (b, c)))
            store.append(time.monotonic() - done)
        ms = lambda v: f"{v * 1000:.1f} ms"
        print(f"counter convergence a→b ({TRIALS} trials): median {ms(statistics.median(counter))}, "
              f"p99 {ms(pct(counter, 99))}, max {ms(max(counter))}")
        print(f"store write a→b,c ({TRIALS} trials, quorum write returned first): median "
              f"{ms(statistics.median(store))}, p99 {ms(pct(store, 99))}, max {ms(max(store))}")

        for trial in range(3):
            fresh_minute(10)
            admitted, rate = overshoot(nodes, f"over-{os.getpid()}-{trial}")
            print(f"overshoot, no partition: {admitted} admitted of 300 (limit 100, "
                  f"{CLIENTS} clients per node, {rate:.0f} hits/s): +{admitted - 100}")

        a.block(["c"])
        b.block(["c"])
        c.block(["a", "b"])
        cut = wait("partition", lambda: c.alive_peers() == 0, 30)
        for trial in range(3):
            fresh_minute(10)
            admitted, rate = overshoot(nodes, f"split-{os.getpid()}-{trial}")
            print(f"overshoot, c cut off from a and b: {admitted} admitted of 300 "
                  f"({rate:.0f} hits/s): +{admitted - 100}")
        # Counts made on c during the partition reach a once it heals.
        user = f"heal-{os.getpid()}"
        fresh_minute(10)
        for _ in range(40):
            c.hit(user)
        for node in nodes:
            node.block([])
        healed = until_counted(a, user, 40, "healing", 30)
        print(f"partition: c saw no live peer {cut * 1000:.0f} ms after the block; after healing, "
              f"a counted c's partition-time hits {healed * 1000:.0f} ms later")
    finally:
        for node in nodes:
            node.proc.kill()
            node.proc.wait()


def _ready(node):
    try:
        return node.request("GET", "/health/ready")[0] == 200
    except RuntimeError:
        return False


if __name__ == "__main__":
    main()
