"""Fixtures for the evals tests: HumanEval, sample sets with known outcomes, one shared
sandbox pool, the sandbox's verdicts on those sample sets (computed once), and listening
sockets that a sandboxed program must not reach."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
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


@pytest.fixture
def unix_listener() -> Iterator[Callable[..., tuple[socket.socket, Path]]]:
    """A factory: a world-writable Unix socket listening in a fresh world-writable folder under
    `dir` (accept gives up after 0.5 s); socket and folder are removed afterwards."""
    made: list[tuple[socket.socket, Path]] = []

    def make(dir: str | Path | None, prefix: str = "mixtune-sock-") -> tuple[socket.socket, Path]:
        folder = Path(tempfile.mkdtemp(prefix=prefix, dir=dir))
        folder.chmod(0o777)
        path = folder / "listener.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        made.append((listener, folder))
        listener.bind(str(path))
        path.chmod(0o777)
        listener.listen(1)
        listener.settimeout(0.5)
        return listener, path

    yield make
    for listener, folder in made:
        listener.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def tcp_listener() -> Iterator[tuple[socket.socket, int]]:
    """A TCP socket listening on a free localhost port (accept gives up after 0.5 s), and the port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    yield listener, listener.getsockname()[1]
    listener.close()


def accept_in_background(listener: socket.socket) -> tuple[threading.Thread, list[bytes]]:
    """Accept one connection on a thread; what the peer sends (or b"<connected>") lands in the
    returned list, which stays empty when nothing connects before the listener's timeout."""
    received: list[bytes] = []

    def accept() -> None:
        try:
            conn, _ = listener.accept()
            received.append(conn.recv(100) or b"<connected>")
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    return thread, received


@pytest.fixture
def accept_once() -> Callable[[socket.socket], tuple[threading.Thread, list[bytes]]]:
    """`accept_in_background`, for tests (conftest helpers reach tests as fixtures)."""
    return accept_in_background
