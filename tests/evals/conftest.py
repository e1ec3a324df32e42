"""Fixtures for the evals tests: HumanEval, sample sets with known outcomes, one shared
sandbox pool, and the sandbox's verdicts on those sample sets (computed once)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from evals.benchmarks import Benchmark, load_benchmark
from evals.execution import SampleResult, execute_samples
from evals.sandbox import Sandbox, SandboxLimits


@pytest.fixture(scope="session")
def humaneval() -> Benchmark:
    return load_benchmark("humaneval")


@pytest.fixture(scope="session")
def canonical_samples(humaneval: Benchmark) -> list[dict]:
    return [{"task_id": p.task_id, "completion": p.canonical_solution} for p in humaneval.problems]


@pytest.fixture(scope="session")
def wrong_samples(humaneval: Benchmark) -> list[dict]:
    """Every problem answered with the next problem's canonical solution: wrong answers,
    NameErrors, TypeErrors, a mix of failure kinds."""
    probs = humaneval.problems
    return [
        {"task_id": p.task_id, "completion": probs[(i + 1) % len(probs)].canonical_solution}
        for i, p in enumerate(probs)
    ]


@pytest.fixture(scope="session")
def special_samples(humaneval: Benchmark) -> list[dict]:
    """Failure kinds the two other sets do not produce."""
    first = humaneval.problems[0].task_id
    return [
        {"task_id": first, "completion": "    return (\n"},  # syntax
        {"task_id": first, "completion": "    while True:\n        pass\n"},  # timeout
        {"task_id": first, "completion": "    import sys\n    sys.exit(0)\n"},  # exit before the tests end
        {"task_id": first, "completion": "    return [0] * (10 ** 10)\n"},  # memory
        {"task_id": first, "completion": "    raise ValueError('no')\n"},  # runtime
    ]


@pytest.fixture(scope="session")
def sandbox() -> Sandbox:
    with Sandbox(SandboxLimits(timeout=3.0)) as sb:
        yield sb


@pytest.fixture(scope="session")
def executed(
    humaneval: Benchmark,
    sandbox: Sandbox,
    canonical_samples: list[dict],
    wrong_samples: list[dict],
    special_samples: list[dict],
) -> dict[str, list[SampleResult]]:
    """Our verdicts on all three sets, from one pass through the pool."""
    everything = canonical_samples + wrong_samples + special_samples
    results = execute_samples(humaneval, everything, sandbox, show_progress=False)
    a, b = len(canonical_samples), len(canonical_samples) + len(wrong_samples)
    return {"canonical": results[:a], "wrong": results[a:b], "special": results[b:]}


def must_run_security_tests() -> bool:
    """Root, or a CI machine (CI=true): security tests fail instead of skipping there."""
    return os.geteuid() == 0 or os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _sandbox_processes(
    uids: list[int] | None = None, uid_low: int = 60000, uid_high: int = 64096
) -> list[str]:
    """Live (non-zombie) processes of sandboxed programs: those under the given pool's uids (as
    root; any sandbox uid when none are given), and, without root, those of our own uid inside
    a nested pid namespace (NSpid lists more than one id), which is where every program runs."""
    found = []
    me = os.getuid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        if "State:\tZ" in status:
            continue
        uid = int(status.split("Uid:")[1].split()[0])
        nspid = status.split("NSpid:")[1].split("\n")[0].split() if "NSpid:" in status else []
        ours = uid in uids if uids else uid_low <= uid < uid_high
        if ours or (me != 0 and uid == me and len(nspid) > 1):
            found.append(entry)
    return found


@pytest.fixture(scope="session")
def sandbox_processes() -> Callable[..., list[str]]:
    """Call it after a run: processes of the program that outlived it (should be none)."""
    return _sandbox_processes
