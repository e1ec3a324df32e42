"""evals.results, the one home of an eval run's files: what it writes it reads back, a run is
finished only once results.json exists, and unreadable inputs are errors naming the file."""

from __future__ import annotations

import json

import pytest

from evals.execution import SampleResult
from evals.results import (
    RESULTS_FILE,
    SAMPLES_FILE,
    find_results,
    has_results,
    load_results,
    read_lineage,
    read_samples,
    results_document,
    write_run,
)
from evals.sandbox import Verdict
from mixtune.errors import DataError
from mixtune.run_record import RUN_RECORD


def _verdict(passed: bool) -> Verdict:
    return Verdict(kind="passed" if passed else "failed", duration_s=0.01)


def test_a_written_run_reads_back_and_is_found(tmp_path, humaneval):
    bench = humaneval.first(2)
    executed = [
        SampleResult(
            bench.problems[0].task_id, 0, "    return '\ud800'\n", _verdict(False), {"note": "kept"}
        ),
        SampleResult(bench.problems[1].task_id, 0, "    pass\n", _verdict(True), {}),
    ]
    problems = [{"task_id": r.task_id, "n": 1, "correct": int(r.verdict.passed)} for r in executed]
    results = results_document(
        model={"name": "m", "source": "samples", "path": None, "lineage": None},
        bench=bench,
        generation={},
        execution={},
        summary={"scores": {"pass@1": 0.5}, "verdicts": {}, "n_problems": 2, "n_samples": 2},
        timing={},
        problems=problems,
    )
    run = tmp_path / "model" / "evals" / "run-1"
    assert not has_results(run)
    path = write_run(run, results, executed)
    assert path == run / RESULTS_FILE and has_results(run)
    back = load_results(path)
    assert back["benchmark"]["problems"] == 2 and back["scores"] == {"pass@1": 0.5}
    assert back["problems"] == problems
    lines = [json.loads(line) for line in (run / SAMPLES_FILE).read_text(encoding="utf-8").splitlines()]
    assert [row["passed"] for row in lines] == [False, True]
    assert lines[0]["completion"] == "    return '\ud800'\n" and lines[0]["note"] == "kept"
    # the file itself, its run directory, and the model directory all lead to it
    assert find_results(path) == find_results(run) == find_results(tmp_path / "model") == [path]


def test_lineage_comes_from_the_run_record(tmp_path):
    assert read_lineage(tmp_path / "absent") is None
    assert read_lineage(tmp_path) is None  # a model mixtune did not train
    record = {"stage": "dpo", "base_model": "b", "mixtures": [{"name": "m", "hash": "h", "extra": 1}, "junk"]}
    (tmp_path / RUN_RECORD).write_text(json.dumps(record))
    lineage = read_lineage(tmp_path)
    assert lineage is not None and lineage["stage"] == "dpo" and lineage["base_model"] == "b"
    assert lineage["mixtures"] == [
        {"stage": None, "name": "m", "hash": "h", "path": None, "composition": None}
    ]
    (tmp_path / RUN_RECORD).write_text("{broken")
    with pytest.raises(DataError, match=rf"{RUN_RECORD}: unreadable run record"):
        read_lineage(tmp_path)


def test_samples_errors_name_the_file_and_line(tmp_path, humaneval):
    with pytest.raises(DataError, match=r"absent.jsonl: samples file not found"):
        read_samples(tmp_path / "absent.jsonl", humaneval)
    bad = tmp_path / "bad.jsonl"
    good = {"task_id": humaneval.problems[0].task_id, "completion": "    pass\n"}
    bad.write_text(json.dumps(good) + "\n" + json.dumps({"task_id": good["task_id"]}) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:2: a sample needs string fields"):
        read_samples(bad, humaneval)
    bad.write_text("")
    with pytest.raises(DataError, match=r"bad.jsonl: no samples"):
        read_samples(bad, humaneval)
