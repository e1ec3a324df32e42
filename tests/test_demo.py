"""The demo pipeline end to end at its smallest size: mixture -> SFT -> DPO -> eval -> compare."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_pipeline_end_to_end(tmp_path: Path) -> None:
    from mixtune.demo import Demo, DemoSettings

    quick = {"eval_strategy": "no", "save_strategy": "no", "logging_steps": 1}
    settings = DemoSettings(
        out=tmp_path / "demo",
        size="test",
        eval_limit=2,
        max_new_tokens=24,
        sft_overrides={**quick, "max_steps": 4},
        dpo_overrides={**quick, "max_steps": 3},
        preference_rows=8,
    )
    report = Demo(settings).run()
    out = settings.out

    text = report.read_text()
    for stage in ("base model", "mixtures", "SFT", "DPO", "HumanEval", "comparison", "preference accuracy"):
        assert f"| {stage} |" in text
    assert (out / "report.html").is_file()
    for png in [*out.joinpath("compare").glob("*.png"), *out.joinpath("sft").glob("*.png")]:
        assert f"]({png.relative_to(out)})" in text, png

    for label in ("base", "sft", "dpo"):
        results = json.loads((out / "evals" / label / "results.json").read_text())
        assert len(results["problems"]) == 2
    dpo_run = json.loads((out / "dpo" / "mixtune_run.json").read_text())
    assert {m["stage"] for m in dpo_run["mixtures"]} == {"sft", "dpo"}
    assert any(p.suffix == ".png" for p in (out / "compare").iterdir())
    scores = json.loads((out / "preference_accuracy.json").read_text())
    assert set(scores) == {"base", "sft", "dpo"} and all(s["n"] == 8 for s in scores.values())

    # a rerun reuses every finished stage and only re-renders the report
    rerun = Demo(settings)
    rerun.run()
    cached = {r.name: r.cached for r in rerun.results}
    assert cached["SFT"] and cached["DPO"] and cached["HumanEval"] and cached["preference accuracy"]


@pytest.mark.slow
def test_copilot_demo_end_to_end(tmp_path: Path) -> None:
    """`mixtune demo --copilot` at its smallest: sample codebase -> completion mixture -> FIM training ->
    repo eval of base and fine-tuned -> before/after plot and report; a rerun reuses every stage."""
    from mixtune.demo_copilot import PLOT_PNG, SCORES_JSON, CopilotDemo, CopilotSettings

    settings = CopilotSettings(
        out=tmp_path / "copilot-demo",
        size="test",
        completion_overrides={"max_steps": 3, "eval_strategy": "no", "logging_steps": 1, "seq_length": 256},
        max_new_tokens=8,
        lines_per_file=1,
        spans_per_file=0,
    )
    report = CopilotDemo(settings).run()
    out = settings.out
    text = report.read_text()
    for stage in ("base model", "completion mixture", "completion training", "repo eval", "before/after"):
        assert f"| {stage} |" in text
    assert f"]({PLOT_PNG})" in text and (out / PLOT_PNG).stat().st_size > 0
    scores = json.loads((out / SCORES_JSON).read_text())
    assert set(scores) == {"base model", "fine-tuned"}
    assert all(0.0 <= s["exact_match"] <= 1.0 and s["tasks"] > 0 for s in scores.values())
    assert f"| fine-tuned | {scores['fine-tuned']['exact_match']:.3f} |" in text
    run = json.loads((out / "copilot" / "mixtune_run.json").read_text())
    assert run["stage"] == "completion" and run["mixtures"][0]["name"] == "demo-copilot"
    assert "mixtune serve" in text and (out / "report.html").is_file()

    rerun = CopilotDemo(settings)
    rerun.run()
    cached = {r.name: r.cached for r in rerun.results}
    assert cached["completion training"] and cached["repo eval"] and cached["completion mixture"]
