"""Hostile programs: each must end with the right verdict and leave the host untouched.

Hostile programs aim only at canaries this test creates (a fake home; beside the harness: its
working directory under the repository's git-ignored runs/; the sandbox's scratch root; a
directory in the system temp dir), never at real home or system directories, so a sandbox bug
fails a test instead of harming the machine. The canaries are world-writable in world-writable
directories, so when the filesystem is protected it is the sandbox, not file permissions, that
protects them.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from evals.sandbox import Sandbox, SandboxLimits
from mixtune.paths import REPO_ROOT


def kernel_allows_namespaces() -> bool:
    """What the kernel allows this user, probed in a throwaway process: new user (unless
    root), mount, network and pid namespaces."""
    import subprocess
    import sys

    flags = 0x00020000 | 0x40000000 | 0x20000000 | (0 if os.geteuid() == 0 else 0x10000000)
    probe = f"import ctypes, sys; sys.exit(ctypes.CDLL(None, use_errno=True).unshare({flags}) != 0)"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


def must_run_security_tests() -> bool:
    """Root, or a CI machine (CI=true): a refused isolation layer fails instead of skipping."""
    return os.geteuid() == 0 or os.environ.get("CI", "").lower() in ("1", "true", "yes")


SECRET = "mixtune-fake-secret-4d1f8a"
CANARY_TEXT = "canary: must survive\n"


class Host:
    """Everything the hostile programs aim at, and how to check it is intact."""

    def __init__(self, root: Path, beside: Path, scratch: Path) -> None:
        self.dirs = {
            "home": root / "home",
            "beside-harness": beside,
            "scratch": scratch,
            "system-temp": Path(tempfile.mkdtemp(prefix="mixtune-canary-", dir=tempfile.gettempdir())),
        }
        self.files: dict[str, Path] = {}
        for name, d in self.dirs.items():
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o777)
            f = d / f"canary-{name}.txt"
            f.write_text(CANARY_TEXT)
            f.chmod(0o666)
            self.files[name] = f
        self.listings = {name: sorted(os.listdir(d)) for name, d in self.dirs.items()}

    def damage(self) -> list[str]:
        problems = []
        for name, f in self.files.items():
            if not f.is_file() or f.read_text() != CANARY_TEXT:
                problems.append(f"{name} canary changed: {f}")
        for name, d in self.dirs.items():
            if name != "scratch" and sorted(os.listdir(d)) != self.listings[name]:
                problems.append(f"{name} directory changed: {sorted(os.listdir(d))}")
        return problems

    def cleanup(self) -> None:
        import shutil

        shutil.rmtree(self.dirs["system-temp"], ignore_errors=True)
        shutil.rmtree(self.dirs["beside-harness"], ignore_errors=True)


@pytest.fixture(scope="module")
def hostile_env(tmp_path_factory, monkeypatch_module, sandbox_processes):
    root = tmp_path_factory.mktemp("host")
    monkeypatch_module.setenv("HOME", str(root / "home"))
    monkeypatch_module.setenv("MIXTUNE_FAKE_SECRET", SECRET)
    (root / "home").mkdir()
    beside = REPO_ROOT / "runs" / f"sandbox-canary-{uuid.uuid4().hex[:8]}"
    beside.mkdir(parents=True)
    monkeypatch_module.chdir(beside)
    sandbox = Sandbox(SandboxLimits(timeout=2.0))
    host = Host(root, beside, sandbox._scratch)
    isolation = sandbox.isolation()
    if isolation["fs"] != "read-only":
        if isolation["user"] == "unchanged":
            sandbox.close()
            host.cleanup()
            reason = f"no filesystem protection on this machine: {isolation}"
            if must_run_security_tests():  # root or CI: a refused layer is a failure, not a skip
                pytest.fail(reason)
            pytest.skip(reason)
        for f in host.files.values():  # only the uid switch protects them: make them the harness's own
            f.chmod(0o644)
    yield sandbox, host, sandbox_processes
    sandbox.close()
    host.cleanup()


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def run_checked(hostile_env, source: str):
    sandbox, host, sandbox_processes = hostile_env
    start = time.monotonic()
    verdict = sandbox.run(source)
    elapsed = time.monotonic() - start
    assert elapsed < sandbox.limits.timeout + 12, f"the harness took {elapsed:.1f}s"
    assert host.damage() == []
    assert sandbox_processes(sandbox.uids) == [], "processes of the program outlived it"
    return verdict


def test_infinite_loop_times_out(hostile_env):
    v = run_checked(hostile_env, "while True:\n    pass\n")
    assert v.kind == "timeout"


def test_fork_bomb_is_contained_and_reaped(hostile_env):
    v = run_checked(
        hostile_env,
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
    )
    assert v.kind == "timeout"


def test_thread_and_fork_storm(hostile_env):
    src = (
        "import os, threading, time\n"
        "def storm():\n"
        "    while True:\n"
        "        try:\n"
        "            if os.fork() == 0:\n"
        "                while True:\n"
        "                    pass\n"
        "        except OSError:\n"
        "            time.sleep(0.01)\n"
        "for _ in range(500):\n"
        "    try:\n"
        "        threading.Thread(target=storm, daemon=True).start()\n"
        "    except RuntimeError:\n"
        "        break\n"
        "time.sleep(60)\n"
    )
    v = run_checked(hostile_env, src)
    assert v.kind == "timeout"


@pytest.mark.parametrize("target", ["home", "beside-harness", "scratch", "system-temp"])
def test_deleting_canaries_fails(hostile_env, target):
    _, host, _ = hostile_env
    path, folder = host.files[target], host.dirs[target]
    src = f"import os, shutil\nos.remove({str(path)!r})\nshutil.rmtree({str(folder)!r})\n"
    v = run_checked(hostile_env, src)
    assert v.kind == "runtime"
    assert "Error" in v.detail


@pytest.mark.parametrize("target", ["home", "beside-harness", "scratch", "system-temp"])
def test_overwriting_canaries_fails(hostile_env, target):
    _, host, _ = hostile_env
    path, folder = host.files[target], host.dirs[target]
    src = (
        f"open({str(path)!r}, 'w').write('pwned')\n"
        f"open({str(folder / 'new-file.txt')!r}, 'w').write('pwned')\n"
    )
    v = run_checked(hostile_env, src)
    assert v.kind == "runtime"


def test_ten_gigabyte_allocation_is_a_memory_verdict(hostile_env):
    v = run_checked(hostile_env, "x = bytearray(10 * 1024 ** 3)\nx[-1] = 1\n")
    assert v.kind == "memory"


def test_killing_the_parent_and_the_harness_fails(hostile_env):
    src = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"
    v = run_checked(hostile_env, src)
    assert v.kind == "runtime"  # the parent is the sandbox's init, owned by another uid
    v = run_checked(hostile_env, f"import os, signal\nos.kill({os.getpid()}, signal.SIGKILL)\n")
    assert v.kind == "runtime"  # the harness is not even visible (pid namespace) or not ours to kill
    sandbox, _, _ = hostile_env
    assert sandbox.run("assert True").kind == "passed"  # harness and pool still work


@pytest.mark.parametrize(
    ("source", "detail"),
    [("import sys\nsys.exit(0)\n", "SystemExit"), ("import os\nos._exit(0)\n", "before its tests finished")],
)
def test_exiting_early_is_not_a_pass(hostile_env, source, detail):
    v = run_checked(hostile_env, source + "assert False, 'the tests'\n")
    assert v.kind == "exit"
    assert detail in v.detail


def test_socket_to_localhost_reaches_nothing(hostile_env, tcp_listener, accept_once):
    listener, port = tcp_listener
    thread, accepted = accept_once(listener)
    src = (
        f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\ns.sendall(b'leak')\n"
    )
    v = run_checked(hostile_env, src)
    thread.join()
    assert v.kind == "runtime"
    assert accepted == []


def test_environment_secrets_are_not_visible(hostile_env):
    assert os.environ["MIXTUNE_FAKE_SECRET"] == SECRET
    src = (
        "import os\n"
        "print(dict(os.environ))\n"
        "for pid in os.listdir('/proc'):\n"
        "    if pid.isdigit():\n"
        "        try:\n"
        "            print(open(f'/proc/{pid}/environ', 'rb').read())\n"
        "        except OSError as e:\n"
        "            print(pid, e)\n"
    )
    v = run_checked(hostile_env, src)
    assert v.kind == "passed"
    assert "PATH" in v.output
    assert SECRET not in v.output
    assert str(Path.home()) not in v.output  # the harness's HOME is replaced too


def test_spawned_subprocesses_are_sandboxed_and_reaped(hostile_env):
    _, host, _ = hostile_env
    target = host.dirs["system-temp"] / "spawned.txt"
    src = (
        "import subprocess\n"
        "print(subprocess.run(['id', '-u'], capture_output=True, text=True).stdout)\n"
        "subprocess.Popen(['sleep', '30'], start_new_session=True)\n"
        f"subprocess.run(['touch', {str(target)!r}], check=True)\n"
    )
    v = run_checked(hostile_env, src)
    assert v.kind == "runtime"
    assert "CalledProcessError" in v.detail
    assert not target.exists()
    if os.geteuid() == 0:
        assert v.output.split()[0] != "0"  # not root


def test_hundred_megabytes_of_stdout_hit_the_output_limit(hostile_env):
    v = run_checked(hostile_env, "import sys\nsys.stdout.write('x' * (100 * 1024 * 1024))\n")
    assert v.kind == "output"
    assert len(v.output) <= 4096  # the harness keeps only the head


def test_ctypes_segfault_is_a_crash(hostile_env):
    v = run_checked(hostile_env, "import ctypes\nctypes.string_at(0)\n")
    assert v.kind == "crash"
    assert "SIGSEGV" in v.detail


def test_recursion_bombs(hostile_env):
    v = run_checked(hostile_env, "def f(n):\n    return f(n + 1)\nf(0)\n")
    assert v.kind == "runtime"
    assert "RecursionError" in v.detail
    unbounded = "import sys\nsys.setrecursionlimit(10 ** 9)\ndef f(n):\n    return f(n + 1)\nf(0)\n"
    v = run_checked(hostile_env, unbounded)
    assert v.kind in ("memory", "timeout", "crash")


def test_large_files_hit_the_file_size_limit(hostile_env):
    v = run_checked(hostile_env, "open('big.bin', 'wb').write(b'x' * (64 * 1024 * 1024))\n")
    assert v.kind == "output"


def test_programs_are_the_first_choice_of_the_oom_killer(hostile_env):
    """A fork storm of big allocations can exceed the per-process limits together; the kernel
    must then kill the program's processes, not the harness or anything else on the host."""
    v = run_checked(
        hostile_env,
        "import os, subprocess\nprint(open('/proc/self/oom_score_adj').read())\nos.system('cat /proc/self/oom_score_adj')\n",
    )
    assert v.output.split() == ["1000", "1000"]


def test_isolation_report_on_this_machine(hostile_env):
    """The report against what the kernel allows: as root (or on CI) every layer is there."""
    sandbox, _, _ = hostile_env
    iso = sandbox.isolation()
    assert set(iso) >= {"net", "pid", "fs", "user", "warnings"}
    if must_run_security_tests() or kernel_allows_namespaces():
        assert (iso["net"], iso["pid"], iso["fs"], iso["ipc"]) == (
            "namespace",
            "namespace",
            "read-only",
            "namespace",
        ), iso
    if os.geteuid() == 0:
        assert iso["user"].startswith("uid ")
