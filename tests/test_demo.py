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
