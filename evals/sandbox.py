"""Run untrusted programs (model-written code: Python, JavaScript, C++, Java, Rust) in
isolated, resource-limited processes.

A fork server (`sandbox_child.py`, one `python -I -S` per Sandbox, common stdlib modules
preloaded) forks one process tree per program, in its own session, with: new mount, network,
pid, ipc and uts namespaces where the kernel allows them; a read-only view of the host with
home directories hidden and private tmpfs /tmp and /dev/shm; an unprivileged uid of its own
when the harness runs as root (one per worker slot, so process counts and signals never cross
between concurrent programs); CPU-time, address-space, process-count, file-size and output
limits; the OOM killer's first choice; stdin closed; a scrubbed environment; and a wall-clock
deadline after which the pid namespace is torn down (everything in it killed) before the run
returns. Whatever the kernel refuses degrades with one logged warning, or raises when
`require_isolation` is set.

Verdicts come from evidence the program cannot produce: "passed" needs the proof line
carrying a per-run secret (written by the harness's runner after the tests returned, see
`evals.languages`) and a clean exit reported on a channel the program never holds. Anything
the program writes, anywhere, can at worst fail its own sample.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import json
import logging
import math
import os
import queue
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from evals import languages
from mixtune.errors import MixtuneError

log = logging.getLogger(__name__)

CHILD_SCRIPT = Path(__file__).with_name("sandbox_child.py")

PASSED = "passed"
ASSERTION = "assertion"
TIMEOUT = "timeout"
COMPILE_ERROR = "compile_error"
MEMORY = "memory"
RUNTIME = "runtime"
EXIT = "exit"
CRASH = "crash"
KILLED = "killed"
OUTPUT = "output"

# Every verdict kind, with what it means (used in reports).
VERDICT_KINDS = {
    PASSED: "ran to the end, every assertion held",
    ASSERTION: "an assertion failed (wrong answer)",
    TIMEOUT: "exceeded the wall-clock or CPU-time limit",
    COMPILE_ERROR: "did not compile (syntax error, compiler error or compile-time limit)",
    MEMORY: "ran out of its memory limit",
    RUNTIME: "raised an exception other than AssertionError",
    EXIT: "exited before its tests finished (sys.exit, os._exit, exit(0), or no proof of finishing)",
    CRASH: "died from a fault signal (segfault, abort)",
    KILLED: "killed by a signal",
    OUTPUT: "exceeded the output or file-size limit",
}

_CRASH_SIGNALS = {
    signal.SIGSEGV,
    signal.SIGBUS,
    signal.SIGILL,
    signal.SIGFPE,
    signal.SIGABRT,
    signal.SIGSYS,
    signal.SIGTRAP,
}

# What full isolation looks like; anything else is a degradation worth a warning.
_STRONG = {"net": "namespace", "pid": "namespace", "fs": "read-only"}

# Covered by empty tmpfs in every program's view (host Unix sockets live there); /tmp and
# /dev/shm get a private writable tmpfs per program.
PRIVATE_DIRS = ("/var/tmp", "/run", "/var/run", "/var/lock", "/var/spool")

ENGINES = ("namespaces", "bwrap")
DEFAULT_ENGINE = "auto"  # bubblewrap when it is installed and usable, else namespaces


@functools.lru_cache(maxsize=1)
def bwrap_usable() -> bool:
    """bubblewrap is installed and can make its namespaces here (it cannot in some containers)."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return False
    probe = [
        bwrap,
        "--die-with-parent",
        "--unshare-net",
        "--ro-bind",
        "/",
        "/",
        "--proc",
        "/proc",
        "--",
        "true",
    ]
    try:
        return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


# Failure kinds a program's own report may pick between (never "passed").
_FAILURE_HINTS = {ASSERTION, RUNTIME, MEMORY, OUTPUT, EXIT}
_RECORD_MAX = 8192  # longer status lines are not records the harness wrote
_STATUS_MAX = 1 << 20


class SandboxError(MixtuneError):
    """The sandbox itself could not run (not a verdict about the program)."""


@dataclass(frozen=True)
class SandboxLimits:
    """Per-program limits. Defaults suit HumanEval-style unit tests."""

    timeout: float = 3.0  # wall-clock seconds of the run phase (from the start, or the end of compiling)
    memory_mb: int = 1024  # address space per process (RLIMIT_AS)
    nproc: int = 32  # processes and threads (RLIMIT_NPROC)
    compile_timeout: float = 0.0  # compiled languages: wall-clock seconds for the compiler
    compile_memory_mb: int = 0
    max_output_bytes: int = 1 << 20  # stdout+stderr
    file_size_mb: int = 16  # largest file the program may write (RLIMIT_FSIZE)
    tmpfs_mb: int = 64  # size of the private /tmp

    def __post_init__(self) -> None:
        if self.timeout <= 0 or self.memory_mb < 64 or self.nproc < 1 or self.max_output_bytes < 1:
            raise MixtuneError(f"impossible sandbox limits: {self}")

    @classmethod
    def for_language(
        cls, name: str, timeout: float | None = None, memory_mb: int | None = None, **kwargs: object
    ) -> SandboxLimits:
        """The language's defaults (which hold on a loaded 2-core machine), with overrides."""
        lang = languages.language(name)
        return cls(
            timeout=timeout if timeout is not None else lang.timeout,
            memory_mb=memory_mb if memory_mb is not None else lang.memory_mb,
            nproc=lang.nproc,
            compile_timeout=lang.compile_timeout,
            compile_memory_mb=lang.compile_memory_mb,
            **kwargs,  # type: ignore[arg-type]
        )


@dataclass
class Verdict:
    """How one program ended."""

    kind: str
    detail: str = ""
    duration_s: float = 0.0
    output: str = ""
    exit_code: int | None = None
    signal: int | None = None

    @property
    def passed(self) -> bool:
        return self.kind == PASSED

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Capture:
    head: bytearray = field(default_factory=bytearray)
    total: int = 0
    status: bytearray = field(default_factory=bytearray)  # fd 3: the program can write here
    trusted: bytearray = field(default_factory=bytearray)  # fd 4: only the sandbox writes here


def _program_paths() -> tuple[list[str], list[str]]:
    """(paths the program needs visible: interpreter and libraries; site-packages for sys.path)."""
    paths = sysconfig.get_paths()
    site = [p for p in dict.fromkeys([paths["purelib"], paths["platlib"]]) if os.path.isdir(p)]
    keep = [
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        paths["stdlib"],
        paths["platstdlib"],
        *site,
    ]
    return [os.path.realpath(p) for p in dict.fromkeys(keep) if os.path.isdir(p)], site


UID_LOCK_DIR = Path("/var/lock/mixtune-sandbox-uids")


def _reserve_uids(base: int, count: int, span: int = 4096) -> tuple[list[int], list[int]]:
    """`count` uids from `base` up that belong to no account and no other live Sandbox on this
    machine (each is held by an flock on a file of its own, released when the process ends),
    so concurrent evaluations never share process counts, signals or cleanup. Returns (uids,
    lock fds)."""
    import fcntl
    import pwd

    UID_LOCK_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    uids: list[int] = []
    fds: list[int] = []
    for uid in range(base, base + span):
        if len(uids) == count:
            break
        try:
            pwd.getpwuid(uid)
            continue
        except KeyError:
            pass
        fd = os.open(UID_LOCK_DIR / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        uids.append(uid)
        fds.append(fd)
    if len(uids) < count:
        for fd in fds:
            os.close(fd)
        raise SandboxError(f"no {count} free sandbox uids in {base}..{base + span - 1}")
    return uids, fds


def _with_compile_limits(limits: SandboxLimits, language: str) -> SandboxLimits:
    """`limits`, with the language's compile limits where a compiled language has none."""
    lang = languages.language(language)
    if not lang.compiled or limits.compile_timeout > 0:
        return limits
    return SandboxLimits(
        **{
            **asdict(limits),
            "compile_timeout": lang.compile_timeout,
            "compile_memory_mb": lang.compile_memory_mb,
        }
    )


def _resolve_engine(engine: str | None) -> tuple[str, str | None]:
    """The engine asked for (argument, else $MIXTUNE_SANDBOX_ENGINE, else auto), with auto
    decided, and the bubblewrap binary for the bwrap engine."""
    engine = engine or os.environ.get("MIXTUNE_SANDBOX_ENGINE") or DEFAULT_ENGINE
    if engine not in (*ENGINES, "auto"):
        raise MixtuneError(f"unknown sandbox engine {engine!r} (known: auto, {', '.join(ENGINES)})")
    if engine == "auto":
        engine = "bwrap" if bwrap_usable() else "namespaces"
    bwrap = shutil.which("bwrap") if engine == "bwrap" else None
    if engine == "bwrap" and not bwrap:
        raise SandboxError("the bwrap engine needs bubblewrap (Debian package bubblewrap)")
    return engine, bwrap


class Sandbox:
    """A pool of isolated program runs. Use as a context manager, or call close()."""

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        workers: int | None = None,
        uid_base: int = 60000,
        require_isolation: bool = False,
        namespaces: bool = True,
        language: str = "python",
        engine: str | None = None,
    ) -> None:
        """workers: programs run at once. uid_base: first uid of the per-slot uids (as root).
        require_isolation: raise instead of warning when the kernel refuses an isolation layer.
        namespaces: False skips every namespace (debugging, or kernels where they misbehave):
        the uid switch, limits and in-process socket blocking remain (Python only).
        language: what `run` is given (see `evals.languages`); its toolchain must be installed.
        engine: "namespaces" (the fork server sees the host read-only, less home directories
        and the socket directories), "bwrap" (the fork server starts inside bubblewrap,
        which shows it only /usr, /etc, /opt, the interpreter and the toolchain; every program
        still gets its own namespaces, uid and limits from the server), or "auto" (the
        default, also from $MIXTUNE_SANDBOX_ENGINE): bwrap when it is installed and usable."""
        if not sys.platform.startswith("linux") or not hasattr(os, "pidfd_open"):
            raise SandboxError("sandboxed execution needs Linux 5.3+ (pidfd) and Python 3.9+")
        self.language = languages.language(language).name
        self.toolchain = languages.toolchain(self.language) if self.language != "python" else None
        self.limits = _with_compile_limits(limits or SandboxLimits.for_language(self.language), self.language)
        self.namespaces = namespaces
        self.engine, self._bwrap = _resolve_engine(engine)
        # Programs spend much of their life in process creation and teardown rather than on a
        # CPU, so twice as many slots as cores keeps the CPUs busy.
        self.workers = max(1, workers or 2 * (os.cpu_count() or 1))
        self.require_isolation = require_isolation
        self._scratch = Path(tempfile.mkdtemp(prefix="mixtune-sandbox-"))
        os.chmod(self._scratch, 0o711)
        self._keep, self._site = _program_paths()
        if self.toolchain is not None:
            self._keep += [p for p in self.toolchain.visible if os.path.isdir(p)]
        home = os.path.expanduser("~")
        self._hide = [p for p in dict.fromkeys(["/root", "/home", home]) if os.path.isdir(p)]
        self._uid_locks: list[int] = []
        self._uids: list[int | None] = [None] * self.workers
        if os.geteuid() == 0:
            uids, self._uid_locks = _reserve_uids(uid_base, self.workers)
            self._uids = list(uids)
        self._slots: queue.Queue[int] = queue.Queue()
        for slot in range(self.workers):
            self._slots.put(slot)
        self._counter = 0
        self._lock = threading.Lock()
        self._server_lock = threading.Lock()
        self._control: socket.socket | None = None
        self._process: subprocess.Popen | None = None
        self._isolation: dict | None = None
        self._env = {
            "PATH": self.toolchain.path_env if self.toolchain else "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONIOENCODING": "utf-8",
            "OMP_NUM_THREADS": "1",
            **dict(self.toolchain.env if self.toolchain else ()),
        }

    # -- public API ----------------------------------------------------------------------

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._server_lock:
            if self._control is not None:
                self._control.close()
                self._control = None
            if self._process is not None:
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
                self._process = None
            for fd in self._uid_locks:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._uid_locks = []
        shutil.rmtree(self._scratch, ignore_errors=True)

    @property
    def uids(self) -> list[int]:
        """The unprivileged uids of this pool's slots (empty without root)."""
        return [u for u in self._uids if u is not None]

    def isolation(self) -> dict:
        """What this machine allowed (namespaces, read-only fs, uid): runs a probe if needed."""
        if self._isolation is None:
            self.run("pass")
        assert self._isolation is not None
        return self._isolation

    def run(self, program: str | languages.Job, test: str = "") -> Verdict:
        """Run one program to its end (or its limits) and classify how it ended. `program` is
        source in the sandbox's language (with `test`, the harness's tests, appended), or a Job.
        A harness failure on one program becomes that program's verdict, never an abort."""
        slot = self._slots.get()
        try:
            job = (
                program
                if isinstance(program, languages.Job)
                else languages.build_job(self.language, program, test)
            )
            return self._run_in_slot(job, slot)
        except SandboxError:
            raise
        except Exception as exc:  # noqa: BLE001 - one sample's trouble must not stop the eval
            log.exception("sandbox run failed")
            return Verdict(CRASH, f"the harness could not run this program: {type(exc).__name__}: {exc}")
        finally:
            self._slots.put(slot)

    def run_many(
        self, sources: Iterable[str | languages.Job], progress: Callable[[int], None] | None = None
    ) -> list[Verdict]:
        """Run programs concurrently on `workers` slots; verdicts in input order."""
        sources = list(sources)
        if not sources:
            return []
        self.isolation()
        verdicts: list[Verdict | None] = [None] * len(sources)
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="sandbox") as pool:
            futures = {pool.submit(self.run, src): i for i, src in enumerate(sources)}
            for future in as_completed(futures):
                verdicts[futures[future]] = future.result()
                if progress is not None:
                    progress(1)
        return [v for v in verdicts if v is not None]

    # -- one run -------------------------------------------------------------------------

    def _config(self, slot: int, job: languages.Job) -> dict:
        with self._lock:
            self._counter += 1
            run_id = self._counter
        lim = self.limits
        return {
            "language": job.language,
            "cpu_seconds": math.ceil(lim.timeout) + 1,
            "memory_bytes": lim.memory_mb << 20,
            "compile_timeout": lim.compile_timeout,
            "compile_cpu_seconds": math.ceil(lim.compile_timeout) + 1,
            "compile_memory_bytes": max(lim.compile_memory_mb, lim.memory_mb) << 20,
            "compile": list(job.compile),
            "run": list(job.run),
            "env": self._env,
            "nproc": lim.nproc,
            "fsize_bytes": lim.file_size_mb << 20,
            "tmpfs_bytes": lim.tmpfs_mb << 20,
            "sys_path": self._site,
            "scratch_dir": str(self._scratch / f"run-{run_id}"),
        }

    def _server(self) -> socket.socket:
        """The fork server, started on first use (and again if it died)."""
        with self._server_lock:
            if self._control is not None and self._process is not None and self._process.poll() is None:
                return self._control
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            server_cfg = {
                "keep_paths": self._keep,
                "hide_paths": self._hide,
                "private_dirs": list(PRIVATE_DIRS),
                "switch_uid": self._uids[0] is not None,
                "namespaces": self.namespaces,
            }
            command = [
                sys.executable,
                "-I",
                "-S",
                "-B",
                str(CHILD_SCRIPT),
                str(theirs.fileno()),
                json.dumps(server_cfg),
            ]
            if self._bwrap:
                command = [*self._bwrap_prefix(), *command]
            try:
                self._process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    pass_fds=(theirs.fileno(),),
                    env=self._env,
                    cwd=self._scratch,
                )
            except OSError as exc:
                ours.close()
                raise SandboxError(f"cannot start the sandbox server: {exc}") from exc
            finally:
                theirs.close()
            self._control = ours
            return ours

    def _bwrap_prefix(self) -> list[str]:
        """bubblewrap around the fork server: a new root holding only what programs need.
        No pid namespace at this level: the harness signals programs by the server's pids."""
        args = [str(self._bwrap), "--die-with-parent", "--unshare-ipc", "--unshare-uts", "--unshare-net"]
        args += ["--unshare-cgroup-try"]
        for top in ("/usr", "/etc", "/opt"):
            if os.path.isdir(top):
                args += ["--ro-bind", top, top]
        for link in ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
            if os.path.islink(link):
                args += ["--symlink", os.readlink(link), link]
            elif os.path.isdir(link):
                args += ["--ro-bind", link, link]
        for keep in self._keep:
            if not keep.startswith(("/usr/", "/etc/", "/opt/")) and keep not in ("/usr", "/etc", "/opt"):
                args += ["--ro-bind", keep, keep]
        args += [
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",
            "--tmpfs",
            "/var/tmp",
            "--tmpfs",
            "/run",
        ]
        args += ["--ro-bind", str(CHILD_SCRIPT), str(CHILD_SCRIPT)]
        args += ["--bind", str(self._scratch), str(self._scratch), "--chdir", str(self._scratch)]
        if os.geteuid() == 0:
            args += ["--cap-add", "ALL"]  # the server still makes each program's namespaces and uid
        return [*args, "--"]

    def _spawn(self, cfg: dict, uid: int | None, fds: list[int]) -> tuple[int, int]:
        """Ask the server for a new program process: (pid, pidfd)."""
        control = self._server()
        with self._server_lock:
            request = {"op": "run", "uid": uid, "cfg": cfg}
            try:
                socket.send_fds(control, [json.dumps(request).encode()], fds)
                msg, got, _, _ = socket.recv_fds(control, 4096, 1)
            except OSError:
                msg, got = b"", []
        if not msg or not got:
            raise SandboxError("the sandbox server died; see stderr for its traceback")
        return int(json.loads(msg)["pid"]), got[0]

    def _release(self, pid: int) -> None:
        with self._server_lock:
            if self._control is not None:
                with contextlib.suppress(OSError):
                    self._control.send(json.dumps({"op": "release", "pid": pid}).encode())

    def _run_in_slot(self, job: languages.Job, slot: int) -> Verdict:
        cfg = self._config(slot, job)
        secret = secrets.token_hex(24)
        payload = json.dumps(
            {"source": job.source, "files": job.files, "secret": secret}, ensure_ascii=True
        ).encode("ascii")
        out_r, out_w = os.pipe()
        status_r, status_w = os.pipe()
        trusted_r, trusted_w = os.pipe()
        job_r, job_w = os.pipe()
        start = time.monotonic()
        try:
            pid, pidfd = self._spawn(cfg, self._uids[slot], [out_w, status_w, trusted_w, job_r])
        finally:
            for fd in (out_w, status_w, trusted_w, job_r):
                os.close(fd)
        capture = _Capture()
        timed_out = overflow = False
        finished = False
        try:
            _write_source(job_w, payload)
            timed_out, overflow = self._watch(pidfd, out_r, status_r, trusted_r, capture, start)
            finished = not (timed_out or overflow)
        finally:
            if not finished:
                _terminate(pidfd, pid)
            _kill_group(pid)
            os.close(pidfd)
            self._release(pid)
            _drain(out_r, capture, self.limits.max_output_bytes, into="out")
            _drain(status_r, capture, _STATUS_MAX, into="status")
            _drain(trusted_r, capture, _STATUS_MAX, into="trusted")
            for fd in (out_r, status_r, trusted_r):
                os.close(fd)
            shutil.rmtree(cfg["scratch_dir"], ignore_errors=True)
        duration = time.monotonic() - start
        overflow = overflow or capture.total > self.limits.max_output_bytes
        verdict = self._classify(capture, timed_out, overflow, secret)
        verdict.duration_s = round(duration, 4)
        verdict.output = capture.head.decode("utf-8", "replace")
        return verdict

    def _watch(
        self, pidfd: int, out_fd: int, status_r: int, trusted_r: int, capture: _Capture, start: float
    ) -> tuple[bool, bool]:
        """Collect output until the sandbox process exits, the deadline passes, or output
        overflows. A compiled language gets its compile time, then the run timeout from the
        moment the sandbox (not the program) reports that compiling finished."""
        cap = self.limits.max_output_bytes
        deadline = (
            start
            + self.limits.timeout
            + self.limits.compile_timeout
            + (2.0 if self.limits.compile_timeout else 0.0)
        )
        compiled = False
        with selectors.DefaultSelector() as sel:
            sel.register(out_fd, selectors.EVENT_READ, "out")
            sel.register(status_r, selectors.EVENT_READ, "status")
            sel.register(trusted_r, selectors.EVENT_READ, "trusted")
            sel.register(pidfd, selectors.EVENT_READ, "exit")
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return True, False
                exited = False
                for key, _ in sel.select(remaining):
                    if key.data == "exit":
                        exited = True
                        continue
                    chunk = os.read(key.fd, 1 << 16)
                    if not chunk:
                        sel.unregister(key.fd)
                    elif key.data == "out":
                        _keep_output(capture, chunk)
                        if capture.total > cap:
                            return False, True
                    elif key.data == "status":
                        if len(capture.status) < _STATUS_MAX:
                            capture.status += chunk
                    elif len(capture.trusted) < _STATUS_MAX:
                        capture.trusted += chunk
                        if not compiled and any(
                            r.get("event") == "compiled" for r in _records(capture.trusted)
                        ):
                            compiled = True
                            deadline = min(deadline, time.monotonic() + self.limits.timeout)
                if exited:
                    return False, False

    def _classify(self, capture: _Capture, timed_out: bool, overflow: bool, secret: str) -> Verdict:
        """The verdict, from the trusted channel (setup, compile, exit) and the proof line; the
        program's own status records only ever choose between failure kinds."""
        trusted = _records(capture.trusted)
        errors = [r for r in trusted if r.get("event") == "setup-error"]
        if errors:
            raise SandboxError(f"sandbox setup failed: {str(errors[0].get('error'))[:2000]}")
        exits = [r for r in trusted if r.get("event") == "exit" and isinstance(r.get("isolation"), dict)]
        if exits:
            self._note_isolation(exits[-1])
        harness = [r for r in trusted if r.get("event") == "harness-error"]
        if harness:
            return Verdict(
                CRASH, f"the harness could not run this program: {str(harness[0].get('error'))[:1000]}"
            )
        compile_errors = [r for r in trusted if r.get("event") == "compile_error"]
        if compile_errors:
            return Verdict(COMPILE_ERROR, str(compile_errors[0].get("error", ""))[:4000])
        if overflow:
            return Verdict(OUTPUT, f"more than {self.limits.max_output_bytes} bytes of output")
        if timed_out:
            return Verdict(TIMEOUT, f"wall-clock limit of {self.limits.timeout:g}s")
        if not exits:
            return Verdict(CRASH, "the sandbox's init process ended without a report")
        end = exits[-1]
        sig, code = end.get("signal"), end.get("code")
        status = _records(capture.status)
        proved = any(
            r.get("event") == "proof"
            and isinstance(r.get("secret"), str)
            and hmac.compare_digest(r["secret"].encode("ascii", "replace"), secret.encode("ascii"))
            for r in status
        )
        if isinstance(sig, int) and not isinstance(sig, bool):
            verdict = self._signal_verdict(sig)
            if verdict.kind == CRASH:
                hint = languages.failure_hint(capture.head.decode("utf-8", "replace"))
                if hint is not None:
                    verdict.kind = hint
            return verdict
        if not isinstance(code, int) or isinstance(code, bool):
            return Verdict(CRASH, "the sandbox's exit report has no status")
        if code == 0 and proved:
            return Verdict(PASSED, exit_code=0)
        hints = [r for r in status if r.get("event") == "result" and r.get("kind") in _FAILURE_HINTS]
        if code != 0 and hints:
            res = hints[-1]
            return Verdict(str(res["kind"]), str(res.get("error", ""))[:1000], exit_code=code)
        if code != 0:
            hint = languages.failure_hint(capture.head.decode("utf-8", "replace"))
            if hint is not None:
                return Verdict(hint, f"exited with status {code}", exit_code=code)
        return Verdict(EXIT, f"exited with status {code} before its tests finished", exit_code=code)

    def _signal_verdict(self, sig: int) -> Verdict:
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else f"signal {sig}"
        if sig == signal.SIGXCPU:
            return Verdict(TIMEOUT, f"CPU-time limit ({name})", signal=sig)
        if sig == signal.SIGXFSZ:
            return Verdict(OUTPUT, f"file-size limit of {self.limits.file_size_mb} MB ({name})", signal=sig)
        if sig in _CRASH_SIGNALS:
            return Verdict(CRASH, f"killed by {name}", signal=sig)
        return Verdict(KILLED, f"killed by {name}", signal=sig)

    def _note_isolation(self, end: dict) -> None:
        if self._isolation is not None:
            return
        with self._lock:
            if self._isolation is not None:
                return
            iso = dict(end["isolation"])
            iso["engine"] = self.engine
            iso["warnings"] = list(end.get("warnings", []))
            self._isolation = iso
        weak = {k: iso.get(k) for k, v in _STRONG.items() if iso.get(k) != v}
        if iso.get("user") == "unchanged":
            weak["user"] = "unchanged"
        if weak:
            message = f"sandbox isolation degraded on this machine: {weak}; details: {iso['warnings']}"
            if self.require_isolation:
                raise SandboxError(message)
            log.warning(message)


def _keep_output(capture: _Capture, chunk: bytes, keep: int = 4096) -> None:
    capture.total += len(chunk)
    room = keep - len(capture.head)
    if room > 0:
        capture.head += chunk[:room]


def _drain(fd: int, capture: _Capture, cap: int, into: str) -> None:
    """Read what is left in a pipe without blocking (writers may be gone or killed)."""
    os.set_blocking(fd, False)
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except (BlockingIOError, OSError):
            return
        if not chunk:
            return
        if into == "out":
            _keep_output(capture, chunk)
            if capture.total > cap:
                return
        else:
            buf = capture.status if into == "status" else capture.trusted
            if len(buf) < cap:
                buf += chunk


def _records(data: bytes | bytearray) -> list[dict]:
    """JSON objects, one per line; anything else (partial, oversized, malformed, nested too
    deep, undecodable) is skipped rather than trusted or allowed to raise."""
    records = []
    for line in bytes(data).split(b"\n"):
        line = line.strip()
        if not line or len(line) > _RECORD_MAX or not line.startswith(b"{"):
            continue
        try:
            rec = json.loads(line.decode("utf-8", "replace"))
        except (ValueError, RecursionError):
            continue
        if isinstance(rec, dict):
            records.append(rec)
    return records


def _kill_group(pid: int) -> None:
    """SIGKILL the program's process group (the pid namespace dies with its init). Safe: the
    server reaps the group leader only after `release`, so the id cannot have been reused."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _wait_exit(pidfd: int, timeout: float) -> bool:
    with selectors.DefaultSelector() as sel:
        sel.register(pidfd, selectors.EVENT_READ)
        return bool(sel.select(timeout))


def _terminate(pidfd: int, pid: int) -> None:
    """Stop a running program: SIGTERM asks its session leader to kill the pid namespace's
    init and wait until the namespace is empty; SIGKILL to the group if that takes too long."""
    with contextlib.suppress(ProcessLookupError):
        signal.pidfd_send_signal(pidfd, signal.SIGTERM)
    if not _wait_exit(pidfd, 10.0):
        _kill_group(pid)
        _wait_exit(pidfd, 10.0)


def _write_source(fd: int, data: bytes) -> None:
    """Hand the program its source; the pipe closes so it sees EOF."""
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    except BrokenPipeError:
        pass
    finally:
        os.close(fd)
