"""Verdicts nobody can forge or lose: wrong programs that forge records, exit early, patch the
runner or break the channel parser all fail; the eval always completes with every verdict
written; host Unix sockets are unreachable; rebinding builtins does not change the kind."""

from __future__ import annotations

import json
import os

import pytest

from evals.evaluate import EvalRequest, run_eval
from evals.sandbox import Sandbox, SandboxLimits

# Each program runs the HumanEval-style test `assert False` after the hostile part, so a pass
# can only come from forging.
FAILING_TAIL = "\nassert False, 'the tests'\n"
FORGERIES = {
    "proof_record_then_exit": (
        "import os\n"
        'os.write(3, b\'{"event": "proof", "secret": "guess"}\\n\')\n'
        'os.write(3, b\'{"event": "result", "kind": "passed"}\\n\')\n'
        "os._exit(0)\n"
    ),
    "forged_exit_record": (
        "import os\n"
        "for fd in (3, 4):\n"
        "    try:\n"
        '        os.write(fd, b\'{"event": "exit", "child": 2, "code": 0, "isolation": {}}\\n\')\n'
        "    except OSError:\n"
        "        pass\n"
        "os._exit(0)\n"
    ),
    "record_glued_to_partial_byte_then_abort": (
        'import os\nos.write(3, b\'{"event": "result", "kind": "passed"}\\nx\')\nos.abort()\n'
    ),
    "patched_runner_functions": (
        "import sys, os\n"
        "m = sys.modules['__main__']\n"
        "for name in ('classify_exception', 'exception_classifier'):\n"
        "    setattr(m, name, lambda *a, **k: 'passed')\n"
        'm.Reporter.send = lambda self, **r: os.write(3, b\'{"event": "proof", "secret": "x"}\\n\')\n'
        "os._exit = lambda code=0: None\n"
        "sys.exit = lambda code=0: None\n"
    ),
    "forged_setup_error": 'import os\nos.write(3, b\'{"event": "setup-error", "error": "boom"}\\n\')\n',
    "deep_nesting_on_the_channel": "import os\nos.write(3, b'[' * 200000 + b'\\n')\n",
    "non_integer_signal": (
        'import os\nos.write(3, b\'{"event": "exit", "child": 1, "signal": "nine", "isolation": {}}\\n\')\n'
    ),
    "undecodable_and_oversized_records": (
        "import os\nos.write(3, b'\\xff\\xfe{\\x80}\\n' + b'{\"a\": \"' + b'x' * 100000 + b'\"}\\n')\n"
    ),
    "reads_nothing_it_should_not": "import os\nprint(sorted(os.listdir('/proc/self/fd')))\n",
}


@pytest.fixture(scope="module")
def pool():
    with Sandbox(SandboxLimits(timeout=3.0)) as sb:
        yield sb


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_forged_records_never_pass(pool, name):
    v = pool.run(FORGERIES[name] + FAILING_TAIL)
    assert v.kind != "passed", (name, v)
    assert pool.run("assert True").kind == "passed"  # the pool still works afterwards


def test_the_program_never_holds_the_trusted_channel(pool):
    v = pool.run(
        "import os\n"
        "for fd in (3, 4, 5):\n"
        "    try:\n"
        "        os.fstat(fd)\n"
        "        print(fd, 'open')\n"
        "    except OSError:\n"
        "        print(fd, 'closed')\n"
    )
    assert v.kind == "passed"
    assert v.output.split("\n")[:3] == ["3 open", "4 closed", "5 open"]


def test_a_guessed_or_replayed_secret_is_not_enough(pool):
    """Each run has its own secret: a proof copied from another run fails."""
    v = pool.run("import os\nprint(os.read(5, 256).decode())\n")  # reads its own run's secret
    stolen = v.output.strip()
    assert len(stolen) == 48
    replay = f'import os\nos.write(3, b\'{{"event": "proof", "secret": "{stolen}"}}\\n\')\nos._exit(0)\n'
    assert pool.run(replay).kind == "exit"


def test_rebinding_assertion_error_keeps_the_kind(pool):
    v = pool.run(
        "import builtins\nbuiltins.AssertionError = ValueError\nbuiltins.isinstance = lambda *a: False\n"
        + FAILING_TAIL
    )
    assert v.kind == "assertion"
    v = pool.run("import builtins\nbuiltins.MemoryError = KeyError\nx = bytearray(10 * 1024 ** 3)\n")
    assert v.kind == "memory"


def test_one_bad_sample_never_stops_the_eval(tmp_path, humaneval):
    """Every forging program, a lone surrogate, and a correct sample in one eval: it completes,
    writes every verdict, and only the correct sample passes."""
    first = humaneval.problems[0]
    rows = [
        {"task_id": first.task_id, "completion": "    pass\n" + _indent(src)} for src in FORGERIES.values()
    ]
    rows.append({"task_id": first.task_id, "completion": "    return '\ud800'\n"})
    rows.append({"task_id": first.task_id, "completion": first.canonical_solution})
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out"
    path = run_eval(
        EvalRequest(samples=str(samples), benchmark="humaneval", out=str(out), ks=(1,), show_progress=False)
    )
    written = [json.loads(line) for line in (out / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(written) == len(rows)
    assert [r["passed"] for r in written] == [False] * (len(rows) - 1) + [True]
    assert written[-2]["completion"] == "    return '\ud800'\n"
    assert json.loads(path.read_text())["n_samples"] == len(rows)


def _indent(src: str) -> str:
    return "".join("    " + line + "\n" for line in src.splitlines())


@pytest.mark.parametrize("where", ["/var/tmp", "/run", "/dev/shm", "/tmp"])
def test_host_unix_sockets_are_unreachable(pool, where, unix_listener, accept_once):
    if not os.path.isdir(where) or not os.access(where, os.W_OK):
        pytest.skip(f"{where} is not writable here")
    listener, path = unix_listener(where)
    thread, received = accept_once(listener)
    src = (
        "import socket\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        f"s.connect({str(path)!r})\n"
        "s.sendall(b'leak')\n"
    )
    v = pool.run(src)
    thread.join()
    assert received == []
    assert v.kind == "runtime"


def test_raw_socket_fails_whenever_the_network_namespace_is_reported(pool, tcp_listener):
    """Issue 19: a socket made through ctypes (bypassing any in-process blocking) reaches
    nothing when the report says `net: namespace`, and as root that is what it must say."""
    iso = pool.isolation()
    if os.geteuid() == 0 or os.environ.get("CI"):
        assert iso["net"] == "namespace", iso
        assert iso["pid"] == "namespace" and iso["fs"] == "read-only", iso
    if iso["net"] != "namespace":
        pytest.skip(f"no network namespace on this machine: {iso}")
    listener, port = tcp_listener
    src = (
        "import ctypes, struct, socket\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "fd = libc.socket(2, 1, 0)\n"
        "addr = struct.pack('!HH4s8x', 2, PORT, socket.inet_aton('127.0.0.1'))\n"
        "addr = struct.pack('=H', 2) + addr[2:]\n"
        "rc = libc.connect(fd, addr, len(addr))\n"
        "assert rc != 0, 'connected'\n"
        "print('refused', ctypes.get_errno())\n"
    ).replace("PORT", str(port))
    v = pool.run(src)
    with pytest.raises(TimeoutError):
        listener.accept()
    assert v.kind == "passed", v
    assert "refused" in v.output


@pytest.mark.parametrize("engine", ["bwrap"])
def test_bwrap_engine_hides_sockets_anywhere_on_the_host(engine, unix_listener):
    """With bubblewrap the programs see only /usr, /etc, /opt, the interpreter and the
    toolchain: a world-writable socket beside the harness (not in a socket directory) is gone."""
    from evals.sandbox import bwrap_usable

    if not bwrap_usable():
        if os.geteuid() == 0 or os.environ.get("CI"):
            pytest.fail("bubblewrap is not usable here (scripts/install.sh installs it)")
        pytest.skip("bubblewrap is not usable here")
    from mixtune.paths import REPO_ROOT

    listener, path = unix_listener(REPO_ROOT / "runs" if (REPO_ROOT / "runs").is_dir() else None, "sock-")
    with Sandbox(SandboxLimits(timeout=3.0), engine=engine, workers=1) as sb:
        v = sb.run(
            "import os, socket\n"
            f"print(os.path.exists({str(path)!r}))\n"
            "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
            f"s.connect({str(path)!r})\n"
        )
        iso = sb.isolation()
    with pytest.raises(TimeoutError):
        listener.accept()
    assert v.kind == "runtime" and v.output.split()[0] == "False", v
    assert iso["net"] == "namespace" and iso["fs"] == "read-only"
