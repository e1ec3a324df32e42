"""Where the kernel refuses namespaces the sandbox degrades, says so, and still contains what
it can: the uid switch (as root), rlimits, in-process socket blocking, killing every process of
the slot's uid. Forced here with namespaces=False."""

from __future__ import annotations

import logging
import os
import socket

import pytest

from evals.sandbox import Sandbox, SandboxError, SandboxLimits

# Skipped only off CI without root; on CI (CI=true, root) these run, and fail if they cannot.
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 and os.environ.get("CI", "").lower() not in ("1", "true", "yes"),
    reason="the degraded sandbox relies on switching uid, which needs root",
)


@pytest.fixture(scope="module")
def degraded():
    with Sandbox(SandboxLimits(timeout=2.0), namespaces=False, engine="namespaces") as sb:
        yield sb


def test_degradation_is_reported_and_logged(degraded, caplog):
    with caplog.at_level(logging.WARNING):
        iso = degraded.isolation()
    assert (
        iso["fs"] == "host" and iso["pid"] == "process group" and iso["net"] == "sockets blocked in-process"
    )
    assert iso["user"].startswith("uid ")
    assert "namespaces switched off" in " ".join(iso["warnings"])


def test_require_isolation_refuses_to_degrade():
    with (
        Sandbox(namespaces=False, require_isolation=True, engine="namespaces") as sb,
        pytest.raises(SandboxError, match="degraded"),
    ):
        sb.run("pass")


def test_sockets_are_blocked_in_process(degraded):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    v = degraded.run(f"import socket\nsocket.create_connection(('127.0.0.1', {port}))\n")
    listener.settimeout(0.2)
    with pytest.raises(TimeoutError):
        listener.accept()
    listener.close()
    assert v.kind == "runtime" and "network access is disabled" in v.detail


def test_escaped_and_forked_processes_are_killed(degraded, sandbox_processes):
    v = degraded.run(
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(30)\nprint('parent done')\n"
    )
    assert v.kind == "passed"
    assert sandbox_processes(degraded.uids) == []
    v = degraded.run(
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    )
    assert v.kind == "timeout"
    assert sandbox_processes(degraded.uids) == []


def test_root_owned_files_are_protected_by_the_uid(degraded, tmp_path):
    canary = tmp_path / "canary.txt"
    canary.write_text("keep")
    canary.chmod(0o644)
    tmp_path.chmod(0o755)
    v = degraded.run(f"import os\nopen({str(canary)!r}, 'w').write('x')\n")
    assert v.kind == "runtime" and "Permission denied" in v.detail
    v = degraded.run(f"import os\nos.remove({str(canary)!r})\n")
    assert v.kind == "runtime"
    assert canary.read_text() == "keep"


def test_programs_work_in_a_private_scratch_directory(degraded):
    v = degraded.run(
        "import os\nopen('out.txt', 'w').write('hi')\nprint(os.getcwd() == os.environ['HOME'], open('out.txt').read())\n"
    )
    assert v.kind == "passed" and v.output.strip() == "True hi"
    scratch = degraded._scratch
    assert [p for p in scratch.iterdir()] == []  # removed after the run
