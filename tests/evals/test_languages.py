"""JavaScript, C++, Java and Rust in the sandbox: HumanEval-X canonical solutions pass and
wrong ones fail (a few tasks per language; the full files are run by hand, see README), the
native MBPP and MultiPL-E shapes score through `mixtune eval --samples`, and a hostile suite
per language is contained with the right verdicts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from evals.benchmarks import load_benchmark
from evals.evaluate import EvalRequest, run_eval
from evals.languages import ToolchainError, toolchain
from evals.sandbox import Sandbox, SandboxLimits
from mixtune.paths import REPO_ROOT

HUMANEVAL_X = REPO_ROOT / ".." / "shared" / "benchmarks" / "humaneval-x"
DATA = Path(__file__).parent / "data"
LANGS = ("js", "cpp", "java", "rust")
TASKS_PER_LANGUAGE = 3


def _eval(tmp_path: Path, benchmark: str, rows: list[dict], **kw) -> dict:
    samples = tmp_path / f"{len(list(tmp_path.iterdir()))}.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / f"out-{samples.stem}"
    run_eval(
        EvalRequest(
            samples=str(samples), benchmark=benchmark, out=str(out), ks=(1,), show_progress=False, **kw
        )
    )
    return {
        "results": json.loads((out / "results.json").read_text()),
        "samples": [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()],
    }


@pytest.mark.parametrize("lang", ["python", "js", "cpp", "java"])
def test_humaneval_x_canonical_pass_and_wrong_fail(tmp_path, lang):
    path = HUMANEVAL_X / f"humaneval_{lang}.jsonl.gz"
    bench = load_benchmark(str(path))
    probs = bench.problems[:TASKS_PER_LANGUAGE]
    good = [{"task_id": p.task_id, "completion": p.canonical_solution} for p in probs]
    wrong = [
        {"task_id": p.task_id, "completion": probs[(i + 1) % len(probs)].canonical_solution}
        for i, p in enumerate(probs)
    ]
    got = _eval(tmp_path, str(path), good + wrong)
    passed = [s["passed"] for s in got["samples"]]
    assert passed == [True] * len(good) + [False] * len(wrong), [
        (s["task_id"], s["result"], s["detail"][:200]) for s in got["samples"]
    ]
    assert got["results"]["benchmark"]["language"] == lang
    assert [s["task_id"] for s in got["samples"][:1]] == [probs[0].task_id]  # CPP/0-style ids


def test_mbpp_native_file_reference_solutions_pass(tmp_path):
    bench = load_benchmark(str(DATA / "mbpp_fixture.jsonl"))
    assert bench.shape == "mbpp" and bench.problems[0].task_id == "MBPP/2"
    rows = [{"task_id": p.task_id, "completion": p.canonical_solution} for p in bench.problems]
    # A wrong whole program, and one that defines the asserts' function but exits first.
    rows.append({"task_id": "MBPP/3", "completion": "def is_not_prime(n):\n    return False\n"})
    rows.append(
        {
            "task_id": "MBPP/3",
            "completion": "import sys\ndef is_not_prime(n):\n    return n > 3\nsys.exit(0)\n",
        }
    )
    got = _eval(tmp_path, str(DATA / "mbpp_fixture.jsonl"), rows)
    kinds = [s["result"] for s in got["samples"]]
    assert kinds == ["passed"] * len(bench.problems) + ["assertion", "exit"]
    assert got["results"]["execution"]["timeout_s"] == 15.0  # MBPP's own default


@pytest.mark.parametrize(
    ("fixture", "good", "bad"),
    [
        (
            "multiple_cpp_fixture.jsonl",
            "    for (size_t i = 0; i < numbers.size(); i++)\n        for (size_t j = i + 1; j < numbers.size(); j++)\n"
            "            if (std::abs(numbers[i] - numbers[j]) < threshold) return true;\n    return false;\n",
            "    exit(0);\n",
        ),
        (
            "multiple_java_fixture.jsonl",
            "        if (x > y) return -1;\n        if (y % 2 == 0) return y;\n        return x == y ? -1 : y - 1;\n",
            "        return 14;\n",
        ),
    ],
)
def test_multipl_e_rows_score(tmp_path, fixture, good, bad):
    bench = load_benchmark(str(DATA / fixture))
    task = bench.problems[0].task_id
    got = _eval(
        tmp_path,
        str(DATA / fixture),
        [{"task_id": task, "completion": good}, {"task_id": task, "completion": bad}],
    )
    assert [s["result"] for s in got["samples"]][0] == "passed", got["samples"][0]["detail"]
    assert got["samples"][1]["result"] in ("exit", "assertion")


def test_missing_toolchain_is_named(monkeypatch):
    toolchain.cache_clear()
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("HOME", "/nonexistent")
    try:
        with pytest.raises(ToolchainError, match=r"`g\+\+`.*not installed"):
            Sandbox(language="cpp")
    finally:
        toolchain.cache_clear()


HOSTILE = {
    "js": {
        "loop": "while (true) {}\n",
        "fork": "const cp = require('child_process');\nwhile (true) { try { cp.spawn('sh', ['-c', 'sleep 30']); } catch (e) {} }\n",
        "network": "const net = require('net');\nconst s = net.connect(PORT, '127.0.0.1');\ns.on('connect', () => { s.write('leak'); });\ns.on('error', (e) => { process.stderr.write(String(e)); process.exit(3); });\n",
        "write": "require('fs').writeFileSync('TARGET', 'pwned');\n",
        "memory": "const a = [];\nwhile (true) { a.push(Buffer.allocUnsafe(1 << 30)); }\n",
    },
    "cpp": {
        "loop": "int main() { volatile long x = 0; while (true) { x++; } }\n",
        "fork": "#include <unistd.h>\nint main() { while (true) fork(); }\n",
        "network": '#include <sys/socket.h>\n#include <netinet/in.h>\n#include <arpa/inet.h>\n#include <cassert>\nint main() { int s = socket(AF_INET, SOCK_STREAM, 0); sockaddr_in a{}; a.sin_family = AF_INET; a.sin_port = htons(PORT); inet_pton(AF_INET, "127.0.0.1", &a.sin_addr); int rc = connect(s, (sockaddr*)&a, sizeof a); assert(rc != 0); return 3; }\n',
        "write": '#include <cstdio>\n#include <cassert>\nint main() { FILE* f = fopen("TARGET", "w"); assert(f != nullptr); fputs("pwned", f); fclose(f); }\n',
        "memory": "#include <vector>\nint main() { std::vector<char*> v; while (true) { char* p = new char[1 << 28]; p[0] = 1; v.push_back(p); } }\n",
    },
    "java": {
        "loop": "public class Main { public static void main(String[] a) { while (true) {} } }\n",
        "fork": 'public class Main { public static void main(String[] a) throws Exception { while (true) { try { new ProcessBuilder("sleep", "30").start(); } catch (Exception e) {} } } }\n',
        "network": 'public class Main { public static void main(String[] a) throws Exception { new java.net.Socket("127.0.0.1", PORT).getOutputStream().write(1); } }\n',
        "write": 'public class Main { public static void main(String[] a) throws Exception { java.nio.file.Files.writeString(java.nio.file.Path.of("TARGET"), "pwned"); } }\n',
        "memory": "public class Main { public static void main(String[] a) { java.util.List<long[]> l = new java.util.ArrayList<>(); while (true) l.add(new long[1 << 27]); } }\n",
    },
    "rust": {
        "loop": "fn main() { let mut x: u64 = 0; loop { x = x.wrapping_add(1); std::hint::black_box(x); } }\n",
        "fork": 'fn main() { loop { let _ = std::process::Command::new("sleep").arg("30").spawn(); } }\n',
        "network": 'fn main() { let s = std::net::TcpStream::connect("127.0.0.1:PORT"); assert!(s.is_ok(), "refused"); }\n',
        "write": 'fn main() { std::fs::write("TARGET", "pwned").unwrap(); }\n',
        "memory": "fn main() { let mut v: Vec<Vec<u8>> = Vec::new(); loop { let mut b = Vec::with_capacity(1 << 28); b.push(1u8); v.push(b); } }\n",
    },
}
EXPECTED = {
    "loop": {"timeout"},
    "fork": {"timeout", "runtime", "crash", "killed", "memory"},
    "network": {"runtime", "assertion", "exit", "crash"},
    "write": {"runtime", "assertion", "crash"},
    "memory": {"memory", "crash", "killed", "runtime"},
}


@pytest.fixture(scope="module")
def canary(tmp_path_factory):
    d = tmp_path_factory.mktemp("canary")
    d.chmod(0o777)
    f = d / "canary.txt"
    f.write_text("keep")
    f.chmod(0o666)
    return f


@pytest.mark.parametrize("lang", LANGS)
def test_hostile_suite_per_language(lang, canary, sandbox_processes):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    target = canary.parent / "new.txt"
    verdicts = {}
    with Sandbox(SandboxLimits.for_language(lang, timeout=2.0), language=lang, workers=2) as sb:
        for case, src in HOSTILE[lang].items():
            src = src.replace("PORT", str(port)).replace("TARGET", str(canary if case == "write" else target))
            verdicts[case] = sb.run(src)
        iso = sb.isolation()
    with pytest.raises(TimeoutError):
        listener.accept()
    listener.close()
    assert canary.read_text() == "keep" and not target.exists()
    assert sandbox_processes(sb.uids) == []
    wrong = {c: (v.kind, v.detail[:200]) for c, v in verdicts.items() if v.kind not in EXPECTED[c]}
    assert wrong == {}, wrong
    if os.geteuid() == 0:
        assert iso["net"] == "namespace" and iso["user"].startswith("uid ")
