"""What the sandbox costs per language: HumanEval-X canonical solutions (C++, Java, JavaScript,
Python) through `evals.sandbox.Sandbox` against a plain, unsandboxed subprocess loop with the
same parallelism, in one run, rounds alternating.

- sandbox: the pool as `mixtune eval` uses it (fork server started inside the timing; compile
  and run inside new namespaces, own uid, limits, proof of finishing).
- plain: the same files and the same compile and run commands (the same runners, with the
  proof pipes they expect, put on fds 3 and 5 by bash), run with `subprocess.run` in a
  temporary directory per program by `workers` threads, files and temporary files on a
  tmpfs (/dev/shm) as in the sandbox;
  Python programs run as `python3 -I -S program.py`; each program in a session of its own, as
  in the sandbox (with the kernel's autogroup scheduling a new session is also a new CPU share,
  so this matters on a shared machine). No isolation, no limits.

    python bench/multilang.py                     # all 164 tasks per language, 1 round
    python bench/multilang.py --limit 40 --rounds 3 --languages cpp,js

Goal: the sandbox costs at most 1.2x the plain loop in every language.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evals.benchmarks import load_benchmark  # noqa: E402
from evals.execution import job_for  # noqa: E402
from evals.languages import Job, toolchain  # noqa: E402
from evals.sandbox import Sandbox, SandboxLimits  # noqa: E402

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "benchmarks" / "humaneval-x"


PLAIN_DIR = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def plain_one(job: Job) -> bool:
    """Compile and run one program without any isolation; True when it exits 0. Its files and
    the compilers' temporary files go to a tmpfs, as in the sandbox, so only isolation differs."""
    env = {**os.environ, "TMPDIR": PLAIN_DIR or tempfile.gettempdir()}
    if job.language != "python":
        env.update(toolchain(job.language).env)  # e.g. NODE_PATH for js-md5
    with tempfile.TemporaryDirectory(prefix="mixtune-plain-", dir=PLAIN_DIR) as tmp:
        if job.language == "python":
            Path(tmp, "program.py").write_text(job.source, encoding="utf-8", errors="replace")
            return (
                subprocess.run(
                    [sys.executable, "-I", "-S", "program.py"],
                    cwd=tmp,
                    capture_output=True,
                    env=env,
                    start_new_session=True,
                ).returncode
                == 0
            )
        for name, text in job.files.items():
            Path(tmp, name).write_text(text, encoding="utf-8", errors="replace")
        if (
            job.compile
            and subprocess.run(
                list(job.compile), cwd=tmp, capture_output=True, env=env, start_new_session=True
            ).returncode
            != 0
        ):
            return False
        status_r, status_w = os.pipe()
        secret_r, secret_w = os.pipe()
        os.write(secret_w, b"plain")
        os.close(secret_w)

        # The runners write their proof to fd 3 and read fd 5: a shell puts the pipes there
        # (moved above 100 first, so they cannot be fds 3 or 5 themselves).
        high_w = fcntl.fcntl(status_w, fcntl.F_DUPFD_CLOEXEC, 100)
        high_r = fcntl.fcntl(secret_r, fcntl.F_DUPFD_CLOEXEC, 100)
        command = ["/bin/bash", "-c", f'exec "$@" 3>&{high_w} 5<&{high_r}', "bash", *job.run]
        try:
            proc = subprocess.run(
                command,
                cwd=tmp,
                capture_output=True,
                pass_fds=(high_w, high_r),
                env=env,
                start_new_session=True,
            )
        finally:
            for fd in (status_r, status_w, secret_r, high_w, high_r):
                os.close(fd)
        return proc.returncode == 0


def plain(jobs: list[Job], workers: int) -> tuple[float, int]:
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        ok = sum(pool.map(plain_one, jobs))
    return time.perf_counter() - start, ok


def sandboxed(jobs: list[Job], lang: str, workers: int) -> tuple[float, int, dict]:
    start = time.perf_counter()
    with Sandbox(SandboxLimits.for_language(lang), workers=workers, language=lang) as sb:
        ok = sum(v.passed for v in sb.run_many(jobs))
        iso = sb.isolation()
    return time.perf_counter() - start, ok, iso


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--languages", default="python,js,cpp,java")
    parser.add_argument("--limit", type=int, help="first K tasks per language (default: all 164)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1))
    args = parser.parse_args()
    lines = []
    for lang in args.languages.split(","):
        bench = load_benchmark(str(DATA / f"humaneval_{lang}.jsonl.gz"))
        problems = bench.problems[: args.limit] if args.limit else bench.problems
        jobs = [job_for(p, p.canonical_solution or "") for p in problems]
        ours, theirs = [], []
        for r in range(args.rounds):
            t_sb, ok_sb, iso = sandboxed(jobs, bench.language, args.workers)
            t_pl, ok_pl = plain(jobs, args.workers)
            ours.append(t_sb)
            theirs.append(t_pl)
            print(
                f"{lang} round {r + 1}: sandbox {t_sb:.2f}s ({ok_sb}/{len(jobs)} passed), "
                f"plain {t_pl:.2f}s ({ok_pl}/{len(jobs)} exit 0)",
                flush=True,
            )
        m_sb, m_pl = statistics.median(ours), statistics.median(theirs)
        lines.append(
            f"{lang:<7} {len(jobs):>4} programs  sandbox {m_sb:7.2f}s  plain {m_pl:7.2f}s  ratio {m_sb / m_pl:.2f}x"
            f"  (engine={iso.get('engine')}, net={iso.get('net')}, fs={iso.get('fs')}, user={iso.get('user')})"
        )
    print(
        f"\n{args.workers} workers, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; goal <= 1.2x"
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
