"""Benchmarks by shape and name: MBPP (full and sanitized), MultiPL-E, HumanEval-X and
HumanEval rows are recognised from plain or gzipped files and Hub-layout folders, with their
own task ids, prompts and stop sequences; the chat path extracts code in every language."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from evals import extract, prompts
from evals.benchmarks import load_benchmark
from evals.generate import postprocess, prepare
from mixtune.errors import DataError, MixtuneError
from mixtune.paths import REPO_ROOT

DATA = Path(__file__).parent / "data"
HUMANEVAL_X = REPO_ROOT / ".." / "shared" / "benchmarks" / "humaneval-x"


def test_mbpp_full_shape_plain_and_gzipped(tmp_path):
    rows = (DATA / "mbpp_fixture.jsonl").read_text()
    gz = tmp_path / "mbpp.jsonl.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write(rows)
    for path in (DATA / "mbpp_fixture.jsonl", gz):
        bench = load_benchmark(str(path))
        assert bench.shape == "mbpp" and bench.language == "python"
        assert [p.task_id for p in bench.problems][:2] == ["MBPP/2", "MBPP/3"]
    check = bench.by_id()["MBPP/9001"]
    program, test = check.program(check.canonical_solution)
    assert program.startswith("def check(n)") and "import math" in test and "def check(candidate)" not in test


def test_mbpp_sanitized_shape_uses_prompt_and_test_imports(tmp_path):
    row = {
        "source_file": "x",
        "task_id": 2,
        "prompt": "Write a function to find the shared elements from the given two lists.",
        "code": "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n",
        "test_imports": ["import math"],
        "test_list": ["assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))"],
    }
    path = tmp_path / "sanitized.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (problem,) = load_benchmark(str(path)).problems
    assert problem.task_id == "MBPP/2" and problem.description.startswith("Write a function")
    assert problem.program("X")[1].startswith("\nimport math\n")


def test_hub_layout_folder(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [json.loads(line) for line in (DATA / "mbpp_fixture.jsonl").read_text().splitlines()]
    folder = tmp_path / "mbpp" / "full"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "test-00000-of-00001.parquet")
    bench = load_benchmark(str(tmp_path / "mbpp"))
    assert bench.shape == "mbpp" and len(bench.problems) == len(rows)


def test_humaneval_x_and_multipl_e_ids_and_languages():
    cpp = load_benchmark(str(HUMANEVAL_X / "humaneval_cpp.jsonl.gz"))
    assert cpp.language == "cpp" and cpp.problems[0].task_id == "CPP/0" and len(cpp.problems) == 164
    py = load_benchmark(str(HUMANEVAL_X / "humaneval_python.jsonl.gz"))
    assert py.problems[0].entry_point == "has_close_elements"
    java = load_benchmark(str(DATA / "multiple_java_fixture.jsonl"))
    assert java.language == "java" and java.problems[0].task_id == "HumanEval_102_choose_num"
    assert java.problems[0].stop_tokens == ("\n    }\n",)


def test_errors_name_file_line_and_field(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "t", "code": "c", "task_id": 1, "test_list": []}) + "\n")
    with pytest.raises(
        DataError, match=r"bad.jsonl:1: MBPP row needs a non-empty list of strings 'test_list'"
    ):
        load_benchmark(str(bad))
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"name": "x_1_y", "language": "go", "prompt": "p", "tests": "t"}) + "\n")
    with pytest.raises(DataError, match=r"other.jsonl:1: MultiPL-E language 'go' is not supported"):
        load_benchmark(str(other))
    with pytest.raises(MixtuneError, match="no such benchmark file or name"):
        load_benchmark("no-such-benchmark")
    with pytest.raises(MixtuneError, match="MultiPL-E languages here are"):
        load_benchmark("multiple-cobol")


def test_base_prompts_and_stops_follow_each_benchmark():
    mbpp = load_benchmark(str(DATA / "mbpp_fixture.jsonl")).problems[1]
    p = prepare(mbpp, "plain", None)
    assert p.text.count("[BEGIN]") == 4 and p.text.endswith("[BEGIN]\n") and p.stops == ("[DONE]",)
    assert "is_not_prime(10) == True" in p.text.split("[DONE]")[-1]
    assert postprocess(p, "def f():\n    return 1\n[DONE]\nmore") == "def f():\n    return 1\n"
    cpp = load_benchmark(str(DATA / "multiple_cpp_fixture.jsonl")).problems[0]
    p = prepare(cpp, "plain", None)
    assert p.text == cpp.prompt and p.stops == ("\n}",)
    assert postprocess(p, "    return false;\n}\nint main() {}") == "    return false;"
    hx = load_benchmark(str(HUMANEVAL_X / "humaneval_java.jsonl.gz")).problems[0]
    p = prepare(hx, "plain", None)
    assert (
        postprocess(p, "        return true;\n    }\n}\nclass Other {}") == "        return true;\n    }\n}\n"
    )


def test_chat_path_extracts_code_in_every_language():
    cpp = load_benchmark(str(DATA / "multiple_cpp_fixture.jsonl")).problems[0]
    p = prepare(cpp, "chat", lambda m: m[0]["content"])
    assert "```cpp" in p.messages[0]["content"] and "C++" in p.messages[0]["content"]
    answer = (
        "Here it is:\n```cpp\n#include<bits/stdc++.h>\n"
        "bool has_close_elements(std::vector<float> numbers, float threshold) {\n"
        "    return false;\n}\n```\nDone."
    )
    assert postprocess(p, answer) == "    return false;"
    hx = load_benchmark(str(HUMANEVAL_X / "humaneval_js.jsonl.gz")).problems[0]
    p = prepare(hx, "chat", lambda m: m[0]["content"])
    answer = "```javascript\nconst hasCloseElements = (numbers, threshold) => {\n  return false;\n}\n```"
    assert postprocess(p, answer) == "  return false;\n}\n"
    mbpp = load_benchmark(str(DATA / "mbpp_fixture.jsonl")).problems[0]
    p = prepare(mbpp, "chat", lambda m: m[0]["content"])
    got = postprocess(
        p, "```python\ndef similar_elements(a, b):\n    return 1\nprint(similar_elements(1, 2))\n```"
    )
    assert got == "def similar_elements(a, b):\n    return 1\n"
    assert extract.fenced_blocks_for("```rust\nfn a() {}\n```", ("rust",)) == ["fn a() {}\n"]
    assert prompts.LANGUAGE_NAMES["js"] == "JavaScript"


def test_a_solution_named_check_does_not_collide_with_the_tests(tmp_path):
    """HumanEval-shaped files bind the candidate before the test's own `check` is defined."""
    from evals.execution import job_for
    from evals.sandbox import Sandbox, SandboxLimits

    row = {
        "task_id": "X/0",
        "prompt": "def check(n):\n",
        "entry_point": "check",
        "test": "def check(candidate):\n    assert candidate(4) is True\n    assert candidate(3) is False\n",
        "canonical_solution": "    return n % 2 == 0\n",
    }
    path = tmp_path / "he.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (problem,) = load_benchmark(str(path)).problems
    with Sandbox(SandboxLimits(timeout=5.0), workers=1) as sb:
        assert sb.run(job_for(problem, problem.canonical_solution)).kind == "passed"
        assert sb.run(job_for(problem, "    return True\n")).kind == "assertion"
