"""`mixtune compare` and its statistics, on synthetic runs whose answer is known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evals import stats
from evals.compare import compare_runs, load_runs
from evals.results import FORMAT
from mixtune.cli import main
from mixtune.errors import MixtuneError

TASKS = [f"HumanEval/{i}" for i in range(164)]


def write_run(
    directory: Path,
    name: str,
    outcomes: dict[str, tuple[int, int]],
    mixture: str | None = None,
    bench: str = "humaneval",
    language: str = "python",
) -> Path:
    """A results.json as `mixtune eval` writes it, for given (n, correct) per problem."""
    problems = [
        {"task_id": t, "n": n, "correct": c, "pass@1": c / n, "kinds": {}} for t, (n, c) in outcomes.items()
    ]
    lineage = None
    if mixture:
        lineage = {
            "stage": "sft",
            "parent_model": "bigcode/starcoder2-15b",
            "base_model": "bigcode/starcoder2-15b",
            "mixtures": [
                {
                    "stage": "sft",
                    "name": mixture,
                    "hash": f"{mixture}-hash-0123456789",
                    "path": "/m",
                    "composition": {"oss-instruct": 700, "ultrachat": 300},
                }
            ],
            "hyperparameters": {},
        }
    results = {
        "format": FORMAT,
        "model": {"name": name, "source": "local", "path": str(directory), "lineage": lineage},
        "benchmark": {
            "name": bench,
            "path": "x",
            "sha256": "0",
            "problems": len(problems),
            "language": language,
        },
        "generation": {"n": 1},
        "scores": {"pass@1": sum(p["pass@1"] for p in problems) / len(problems)},
        "verdicts": {},
        "problems": problems,
    }
    out = directory / "evals" / f"{bench}-abc"
    out.mkdir(parents=True)
    (out / "results.json").write_text(json.dumps(results))
    return out / "results.json"


def greedy(passing: set[int]) -> dict[str, tuple[int, int]]:
    return {t: (1, int(i in passing)) for i, t in enumerate(TASKS)}


STRONG = set(range(120))
WEAK = set(range(80))
TWIN = set(range(118)) | {120, 121}  # same score as STRONG, differs on four problems


def test_mcnemar_exact_values():
    assert stats.mcnemar_exact(0, 5) == pytest.approx(2 * 0.5**5)
    assert stats.mcnemar_exact(1, 9) == pytest.approx(2 * (1 + 10) / 2**10)  # P(X <= 1), X ~ Bin(10, 1/2)
    assert stats.mcnemar_exact(3, 3) == 1.0
    assert stats.mcnemar_exact(0, 0) == 1.0
    assert stats.mcnemar_exact(0, 40) < 1e-11


def test_holm_adjustment():
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_more_problems():
    rng = np.random.default_rng(1)
    small = rng.random(50) < 0.5
    large = rng.random(5000) < 0.5
    a, b = stats.bootstrap_ci(small, 2000), stats.bootstrap_ci(large, 2000)
    assert a.low < a.mean < a.high and b.low < b.mean < b.high
    assert (b.high - b.low) < (a.high - a.low) / 5
    # Binomial standard error check: the 95% interval is about +-1.96 * sqrt(p(1-p)/n).
    assert (b.high - b.low) / 2 == pytest.approx(1.96 * np.sqrt(b.mean * (1 - b.mean) / 5000), rel=0.15)


def test_paired_tests_find_real_differences_and_only_those():
    strong, weak, twin = greedy(STRONG), greedy(WEAK), greedy(TWIN)
    real = stats.compare_paired(strong, weak)
    assert real.p_mcnemar is not None and real.p_mcnemar < 1e-10
    assert (real.a_only, real.b_only) == (40, 0)
    assert real.diff == pytest.approx(40 / 164) and real.low > 0
    same_score = stats.compare_paired(strong, twin)
    assert same_score.p_mcnemar == 1.0 and same_score.p_bootstrap > 0.5
    assert same_score.low < 0 < same_score.high
    identical = stats.compare_paired(strong, strong)
    assert identical.p_value == 1.0 and identical.diff == 0


def test_paired_bootstrap_is_calibrated_under_the_null_and_has_power():
    rng = np.random.default_rng(7)
    false_positives = detections = 0
    trials = 60
    for _ in range(trials):
        base = rng.random(164)
        a = {t: (10, int(rng.binomial(10, p))) for t, p in zip(TASKS, base, strict=True)}
        b = {t: (10, int(rng.binomial(10, p))) for t, p in zip(TASKS, base, strict=True)}
        better = {
            t: (10, int(rng.binomial(10, min(1.0, p + 0.15)))) for t, p in zip(TASKS, base, strict=True)
        }
        null = stats.compare_paired(a, b, resamples=1000, seed=1)
        alt = stats.compare_paired(better, b, resamples=1000, seed=1)
        assert null.p_mcnemar is None  # several samples per problem: the bootstrap decides
        false_positives += null.p_value < 0.05
        detections += alt.p_value < 0.05
    assert false_positives / trials <= 0.15
    assert detections / trials >= 0.9


def test_win_rate_as_the_big_code_leaderboard():
    """Per language: num_models - (rank - 1), ties sharing the average rank, averaged."""
    rates = stats.win_rates({"a": {"x": 0.5, "y": 0.2}, "b": {"x": 0.5, "y": 0.4}, "c": {"x": 0.1}})
    assert rates["a"] == pytest.approx((2.5 + 1) / 2)  # x: tied first of 3 (rank 1.5); y: second of 2
    assert rates["b"] == pytest.approx((2.5 + 2) / 2)
    assert rates["c"] == 1.0  # last of 3
    four = stats.win_rates(
        {m: {"cpp": s, "java": s} for m, s in zip("abcd", (0.4, 0.3, 0.2, 0.1), strict=True)}
    )
    assert four == {"a": 4.0, "b": 3.0, "c": 2.0, "d": 1.0}
    assert stats.win_rates({"alone": {"x": 0.3}}) == {"alone": None}


def test_compare_three_runs_writes_table_html_plot_and_json(tmp_path, capsys):
    write_run(tmp_path / "strong-model", "strong", greedy(STRONG), mixture="mix-b")
    weak = write_run(tmp_path / "weak-model", "weak", greedy(WEAK), mixture="mix-a")
    twin = write_run(tmp_path / "twin-model", "twin", greedy(TWIN))
    out = tmp_path / "report"
    code = main(
        [
            "compare",
            str(tmp_path / "strong-model"),
            str(weak),
            str(twin.parent),
            "--out",
            str(out),
            "--resamples",
            "2000",
        ]
    )
    assert code == 0
    md = (out / "leaderboard.md").read_text()
    assert "| # | run | humaneval pass@1 [95% CI] | win rate |" in md
    lines = [line for line in md.splitlines() if line.startswith("| 1 |") or line.startswith("| 3 |")]
    assert "strong" in lines[0] or "twin" in lines[0]
    assert lines[1].startswith("| 3 | weak | 48.8 [")
    assert "strong better" in md and "twin better" in md
    assert md.count("no significant difference") == 1
    assert "mix-b" in md and "mix-b-hash-0" in md and "oss-instruct: 700, ultrachat: 300" in md
    assert "no mixtune lineage" in md  # the twin has none
    page = (out / "leaderboard.html").read_text()
    assert page.count("<table>") == 3 and "scores.png" in page
    cmp = json.loads((out / "comparison.json").read_text())
    sig = {(p["a"], p["b"]): p["significant"] for p in cmp["pairs"]}
    assert sig[("strong", "weak")] and sig[("twin", "weak")]
    assert not sig.get(("strong", "twin"), sig.get(("twin", "strong")))
    import matplotlib.image

    image = matplotlib.image.imread(out / "scores.png")
    assert image.shape[0] > 200 and image.shape[1] > 400
    assert "written:" in capsys.readouterr().out


def test_runs_on_several_benchmarks_and_duplicate_names(tmp_path):
    model = tmp_path / "m"
    write_run(model, "m", greedy(STRONG))
    extra = write_run(tmp_path / "m2", "m", greedy(WEAK), bench="mbpp")
    (model / "evals" / "mbpp-abc").mkdir(parents=True)
    (model / "evals" / "mbpp-abc" / "results.json").write_text(extra.read_text())
    runs = load_runs([str(model), str(tmp_path / "m2")])
    assert [r.label for r in runs] == ["m", "m #2"]
    assert set(runs[0].results) == {"humaneval", "mbpp"}
    cmp = compare_runs(runs, resamples=500)
    assert cmp["benchmarks"] == ["humaneval", "mbpp"]
    assert [p["benchmark"] for p in cmp["pairs"]] == ["mbpp"]


def test_bad_inputs_name_the_file(tmp_path):
    bad = tmp_path / "results.json"
    bad.write_text('{"format": "something-else"}')
    with pytest.raises(MixtuneError, match=r"results.json: not a mixtune eval results file"):
        load_runs([str(bad)])
    with pytest.raises(MixtuneError, match="no results.json here"):
        load_runs([str(tmp_path / "nowhere")])
    good = write_run(tmp_path / "x", "x", greedy(WEAK))
    with pytest.raises(MixtuneError, match="--labels has 2 names for 1 runs"):
        load_runs([str(good)], labels=["a", "b"])


def test_three_languages_one_column_and_one_panel_each(tmp_path):
    """The leaderboard view: a column per benchmark/language, the leaderboard's win rate
    (best everywhere = number of runs), and one plot panel per language."""
    for name, per_lang in {
        "a": {"cpp": STRONG, "java": STRONG, "js": WEAK},
        "b": {"cpp": WEAK, "java": WEAK, "js": STRONG},
        "c": {"cpp": set(range(10)), "java": set(range(10)), "js": set(range(10))},
    }.items():
        for lang, passing in per_lang.items():
            write_run(tmp_path / name, name, greedy(passing), bench=f"multiple-{lang}", language=lang)
    out = tmp_path / "report"
    assert (
        main(["compare", *(str(tmp_path / n) for n in "abc"), "--out", str(out), "--resamples", "500"]) == 0
    )
    cmp = json.loads((out / "comparison.json").read_text())
    assert cmp["benchmarks"] == ["multiple-cpp", "multiple-java", "multiple-js"]
    assert cmp["languages"] == {"multiple-cpp": "cpp", "multiple-java": "java", "multiple-js": "js"}
    wins = {r["label"]: r["win_rate"] for r in cmp["runs"]}
    assert wins == {"a": pytest.approx((3 + 3 + 2) / 3), "b": pytest.approx((2 + 2 + 3) / 3), "c": 1.0}
    md = (out / "leaderboard.md").read_text()
    assert (
        "| # | run | multiple-cpp pass@1 [95% CI] | multiple-java pass@1 [95% CI] | multiple-js pass@1 [95% CI] |"
        in md
    )
    import matplotlib.image

    image = matplotlib.image.imread(out / "scores.png")
    assert image.shape[1] > 3 * image.shape[0] / 2  # three panels side by side
