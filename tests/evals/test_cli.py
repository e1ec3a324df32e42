"""`mixtune eval --samples` end to end, custom benchmarks, and errors that name file and line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from evals.benchmarks import load_benchmark
from evals.results import load_results
from mixtune.cli import main
from mixtune.errors import MixtuneError

MINI = [
    {
        "task_id": "mini/0",
        "prompt": "def add(a, b):\n",
        "entry_point": "add",
        "test": "def check(f):\n    assert f(1, 2) == 3\n",
    },
    {
        "task_id": "mini/1",
        "prompt": "def neg(a):\n",
        "entry_point": "neg",
        "test": "def check(f):\n    assert f(1) == -1\n",
    },
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_scoring_existing_samples_from_the_cli(tmp_path, humaneval, capsys):
    rows = [{"task_id": p.task_id, "completion": p.canonical_solution} for p in humaneval.problems[:5]]
    rows.append(
        {"task_id": humaneval.problems[0].task_id, "completion": "    return True\n", "model_note": "kept"}
    )
    samples = write_jsonl(tmp_path / "samples.jsonl", rows)
    assert (
        main(
            ["eval", "--samples", str(samples), "--limit", "5", "--out", str(tmp_path / "out"), "--k", "1,2"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "samples on humaneval[:5]: pass@1 = 90.0%" in out
    res = load_results(tmp_path / "out" / "results.json")
    assert res["problems"][0] == {
        **res["problems"][0],
        "n": 2,
        "correct": 1,
        "kinds": {"passed": 1, "assertion": 1},
    }
    assert set(res["scores"]) == {"pass@1"}  # pass@2 needs two samples for every problem
    assert res["generation"] == {"samples_file": str(samples)}
    scored = [json.loads(line) for line in (tmp_path / "out" / "samples.jsonl").read_text().splitlines()]
    assert [r["completion_id"] for r in scored if r["task_id"] == "HumanEval/0"] == [0, 1]
    assert scored[-1]["model_note"] == "kept" and scored[-1]["result"] == "assertion"


def test_a_local_jsonl_is_a_benchmark(tmp_path, capsys):
    bench = write_jsonl(tmp_path / "mini.jsonl", MINI)
    samples = write_jsonl(
        tmp_path / "s.jsonl",
        [
            {"task_id": "mini/0", "completion": "    return a + b\n"},
            {"task_id": "mini/1", "completion": "    return a\n"},
        ],
    )
    assert (
        main(["eval", "--benchmark", str(bench), "--samples", str(samples), "--out", str(tmp_path / "o")])
        == 0
    )
    assert "on mini: pass@1 = 50.0%" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [{"task_id": "HumanEval/0", "completion": "x"}, {"task_id": "HumanEval/0"}],
            r"s.jsonl:2: a sample needs",
        ),
        (
            [{"task_id": "Nope/1", "completion": "x"}],
            r"s.jsonl:1: task_id 'Nope/1' is not a problem of humaneval",
        ),
    ],
)
def test_bad_samples_name_file_and_line(tmp_path, rows, message, capsys):
    samples = write_jsonl(tmp_path / "s.jsonl", rows)
    assert main(["eval", "--samples", str(samples)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    import re

    assert re.search(message, err), err


def test_bad_benchmarks_name_file_and_line(tmp_path):
    with pytest.raises(MixtuneError, match=r"mini.jsonl:2: missing or non-string field\(s\) entry_point"):
        load_benchmark(str(write_jsonl(tmp_path / "mini.jsonl", [MINI[0], {**MINI[1], "entry_point": None}])))
    with pytest.raises(MixtuneError, match=r"dup.jsonl:2: duplicate task_id 'mini/0' \(first on line 1\)"):
        load_benchmark(str(write_jsonl(tmp_path / "dup.jsonl", [MINI[0], MINI[0]])))
    (tmp_path / "broken.jsonl").write_text(json.dumps(MINI[0]) + "\n{not json\n")
    with pytest.raises(MixtuneError, match=r"broken.jsonl:2: invalid JSON"):
        load_benchmark(str(tmp_path / "broken.jsonl"))
    with pytest.raises(MixtuneError, match="no such benchmark file"):
        load_benchmark(str(tmp_path / "absent.jsonl"))


def test_python_dash_m_evals_runs_the_eval_command(tmp_path):
    bench = write_jsonl(tmp_path / "mini.jsonl", MINI)
    samples = write_jsonl(tmp_path / "s.jsonl", [{"task_id": "mini/0", "completion": "    return a + b\n"}])
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "evals",
            "--benchmark",
            str(bench),
            "--samples",
            str(samples),
            "--out",
            str(tmp_path / "o"),
            "--require-isolation",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "pass@1 = 100.0%" in proc.stdout


def test_samples_scored_for_a_model_directory_land_next_to_it_with_lineage(tmp_path, humaneval):
    model = tmp_path / "my-sft-model"
    model.mkdir()
    record = {
        "stage": "dpo",
        "parent_model": "sft-dir",
        "base_model": "bigcode/starcoder2-3b",
        "mixtures": [
            {"stage": "dpo", "name": "prefs", "hash": "f00d", "path": "/p", "composition": {"orca": 5}}
        ],
    }
    (model / "mixtune_run.json").write_text(json.dumps(record))
    samples = write_jsonl(
        tmp_path / "gen.jsonl",
        [{"task_id": humaneval.problems[0].task_id, "completion": humaneval.problems[0].canonical_solution}],
    )
    assert main(["eval", str(model), "--samples", str(samples), "--limit", "1"]) == 0
    (found,) = (model / "evals").glob("*/results.json")
    res = load_results(found)
    assert res["model"]["name"] == "my-sft-model"
    assert res["model"]["lineage"]["mixtures"][0] == {
        "stage": "dpo",
        "name": "prefs",
        "hash": "f00d",
        "path": "/p",
        "composition": {"orca": 5},
    }
    assert res["model"]["lineage"]["base_model"] == "bigcode/starcoder2-3b"
