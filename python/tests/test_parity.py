"""The engine decides every request file under requests/<example>/ exactly
as `reaper eval` does (decision, reasons, errors, policy hash), in one
call and in a batch; a request `reaper eval` refuses, the engine refuses
naming the same field. Adding a case means adding a file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import reaper
from conftest import EXAMPLES, REQUESTS, load_request, reaper_bin

CASES = sorted(REQUESTS.glob("*/*.json"))


def eval_cli(example: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [reaper_bin(), "eval", str(EXAMPLES / example), *args], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def engines() -> dict[str, reaper.Engine]:
    return {path.name: reaper.Engine.from_source(EXAMPLES / path.name) for path in sorted(REQUESTS.iterdir())}


def test_there_are_cases_for_three_examples() -> None:
    assert {case.parent.name for case in CASES} == {"document-sharing", "session-store", "api-gateway"}
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_same_decision_as_reaper_eval(case: Path, engines: dict[str, reaper.Engine]) -> None:
    engine = engines[case.parent.name]
    cli = eval_cli(case.parent.name, "--request", str(case))
    request = load_request(case)
    if cli.returncode != 0:
        assert "invalid request" in cli.stderr
        with pytest.raises(reaper.RequestError) as refused:
            engine.authorize(request)
        assert f"`{refused.value.field}`" in cli.stderr
        assert refused.value.reason in cli.stderr
        return
    expected = json.loads(cli.stdout)
    assert engine.authorize(request).to_dict() == expected
    # The same request as JSON text, and explained.
    assert engine.authorize(case.read_text()).to_dict() == expected
    explained = eval_cli(case.parent.name, "--request", str(case), "--explain", "--format", "json")
    assert engine.explain(request) == json.loads(explained.stdout)


@pytest.mark.parametrize("example", ["document-sharing", "api-gateway"])
def test_batches_decide_as_reaper_eval_batch(example: str, engines: dict[str, reaper.Engine], tmp_path: Path) -> None:
    requests = [load_request(case) for case in CASES if case.parent.name == example]
    lines = tmp_path / "batch.jsonl"
    lines.write_text("".join(json.dumps(r) + "\n" for r in requests))
    cli = eval_cli(example, "--batch", str(lines))
    assert cli.returncode == 0, cli.stderr
    # Each line says which input line it answers; the rest is the decision.
    expected = [json.loads(line) for line in cli.stdout.splitlines()]
    assert [row.pop("line") for row in expected] == list(range(1, len(requests) + 1))
    got = engines[example].authorize_batch(requests)
    assert [d.to_dict() for d in got] == expected
