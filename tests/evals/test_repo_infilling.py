"""`--benchmark repo:PATH`: masked lines and spans cut from a code directory or a completion
mixture's test split, scored by exact match and edit similarity, and shown by `mixtune compare`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evals.compare import compare_runs, load_runs
from evals.evaluate import EvalRequest, evaluate_repo_infilling, run_eval
from evals.generate import GenerationSettings
from evals.repo import RepoTaskSettings, edit_similarity, load_repo_benchmark, maskable, score
from evals.report import write_report
from evals.results import load_results
from mixtune.cli import main
from mixtune.code_files import is_held_out
from mixtune.errors import DataError, MixtuneError
from mixtune.manifest import write_manifest

PY = "".join(
    f"def f{i}(x):\n    total = x * {i}\n    if total > {i}:\n        return total - {i}\n\n    return total\n\n"
    for i in range(6)
)
JS = "".join(f"function g{i}(a) {{\n  const b = a + {i};\n  return b * 2;\n}}\n\n" for i in range(5))


@pytest.fixture
def repo(tmp_path) -> Path:
    root = tmp_path / "proj"
    (root / "web").mkdir(parents=True)
    (root / "node_modules" / "lib").mkdir(parents=True)
    (root / "pkg.py").write_text(PY)
    (root / "web" / "app.js").write_text(JS)
    (root / "node_modules" / "lib" / "x.js").write_text(JS)  # vendored
    (root / "blob.py").write_bytes(b"\0\1\2binary")
    (root / "brackets.py").write_text("(\n)\n\n[\n]\n")  # code_files drops it (low_alphanumeric)
    (root / "short.py").write_text("a = 1\nb = 2\n")  # kept, but no line worth masking
    return root


class Canned:
    backend = "canned"
    has_chat_template = False
    tokenizer = None

    def __init__(self, answer) -> None:
        self.answer = answer

    def generate(self, prepared, settings):
        return [[self.answer(p.problem)] * settings.n for p in prepared]


def test_tasks_are_lines_and_spans_that_rebuild_the_file(repo):
    bench = load_repo_benchmark(f"repo:{repo}", RepoTaskSettings(context_chars=100_000))
    files = {"pkg.py": PY, "web/app.js": JS}
    assert bench.shape == "repo" and bench.language == "mixed" and bench.name == "repo:proj"
    assert {p.extra["path"] for p in bench.problems} == set(files)
    for p in bench.problems:
        assert p.prompt + p.canonical_solution + p.suffix == files[p.extra["path"]]
        lines = p.canonical_solution.splitlines()
        assert maskable(lines[0]) and maskable(lines[-1])
        if p.extra["kind"] == "line":
            assert len(lines) == 1 and p.infill_unit == "line"
        else:
            assert 2 <= len(lines) <= 8 and p.infill_unit == "lines"
        assert p.task_id.startswith(p.extra["path"] + ":L")
    kinds = [p.extra["kind"] for p in bench.problems if p.extra["path"] == "pkg.py"]
    assert kinds.count("line") == 4 and kinds.count("span") == 2
    details = bench.details
    assert details["files"] == 3 and details["tasks"] == len(bench.problems)
    assert details["dropped"] == {"binary": 1, "low_alphanumeric": 1, "vendored": 1, "no_maskable_lines": 1}


def test_tasks_are_seeded_per_file(repo):
    def ids(settings=RepoTaskSettings()):
        return [
            p.task_id
            for p in load_repo_benchmark(str(repo), settings).problems
            if p.task_id.startswith("pkg")
        ]

    first = ids()
    (repo / "more.py").write_text(PY.replace("total", "value"))
    assert ids() == first  # another file does not move this file's tasks
    assert ids(RepoTaskSettings(seed=1)) != first
    (repo / "copy.py").write_text(PY)  # the same text at another path is masked elsewhere
    spans = {p.task_id.split(":")[0]: [] for p in load_repo_benchmark(str(repo)).problems}
    for p in load_repo_benchmark(str(repo)).problems:
        spans[p.task_id.split(":")[0]].append(p.task_id.split(":")[1])
    assert spans["copy.py"] != spans["pkg.py"]


def test_context_is_windowed_at_line_breaks(repo):
    bench = load_repo_benchmark(str(repo), RepoTaskSettings(context_chars=80))
    for p in bench.problems:
        assert len(p.prompt) <= 60 and len(p.suffix) <= 20
        assert p.prompt == "" or p.prompt.endswith("\n")
        assert p.suffix == "" or p.suffix.endswith("\n")


def test_scores_ignore_trailing_whitespace_but_not_indentation():
    assert score("    x = 1   \n\n", "    x = 1\n") == {"exact_match": 1.0, "edit_similarity": 1.0}
    got = score("x = 1\n", "    x = 1\n")
    assert got["exact_match"] == 0.0 and got["edit_similarity"] == pytest.approx(5 / 9)
    assert edit_similarity("kitten", "sitting") == pytest.approx(1 - 3 / 7)
    assert edit_similarity("", "") == 1.0 and score("", "    x = 1\n")["edit_similarity"] == 0.0


def test_reference_answers_match_exactly_from_the_cli(repo, tmp_path, capsys):
    out = tmp_path / "ref"
    assert main(["eval", "--backend", "reference", "--benchmark", f"repo:{repo}", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "reference on repo:proj: exact_match = 100.0%, edit_similarity = 100.0%" in printed
    assert "  javascript: exact match 100.0%" in printed and "  span: exact match 100.0%" in printed
    res = load_results(out / "results.json")
    assert res["metric"] == "match" and set(res["by_language"]) == {"python", "javascript"}
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == res["n_samples"] and all(r["exact_match"] == 1.0 for r in rows)


def test_a_wrong_answer_scores_its_edit_distance(repo, tmp_path):
    # every middle answered with its first line only: lines match, spans do not
    first_line = Canned(lambda p: p.canonical_solution.splitlines(keepends=True)[0])
    res = load_results(
        run_eval(EvalRequest(benchmark=f"repo:{repo}", generator=first_line, out=str(tmp_path / "w")))
    )
    assert res["by_kind"]["line"]["exact_match"] == 1.0
    assert res["by_kind"]["span"]["exact_match"] == 0.0
    assert 0.0 < res["by_kind"]["span"]["edit_similarity"] < 1.0


def _mixture(tmp_path: Path, kind: str = "completion", columns=("content", "path", "language")) -> Path:
    from datasets import Dataset, DatasetDict

    def rows(text, path, lang):
        return {"content": [text], "path": [path], "language": [lang], "repo": ["proj"], "source": ["local"]}

    out = tmp_path / f"mix-{kind}-{len(columns)}"
    test = Dataset.from_dict({k: v for k, v in rows(JS, "web/app.js", "javascript").items() if k in columns})
    DatasetDict({"train": Dataset.from_dict(rows(PY, "pkg.py", "python")), "test": test}).save_to_disk(
        str(out)
    )
    write_manifest(out, {"name": "proj-completion", "kind": kind, "hash": "abc123"})
    return out


def test_a_completion_mixture_gives_its_test_split(tmp_path):
    bench = load_repo_benchmark(f"repo:{_mixture(tmp_path)}")
    assert {p.extra["path"] for p in bench.problems} == {"web/app.js"}  # never the train split
    assert bench.language == "javascript"
    assert bench.details["mixture"] == "proj-completion" and bench.details["files"] == 1
    with pytest.raises(DataError, match="kind 'sft', need a completion mixture"):
        load_repo_benchmark(str(_mixture(tmp_path, kind="sft")))
    with pytest.raises(DataError, match="lacks column.*language"):
        load_repo_benchmark(str(_mixture(tmp_path, columns=("content", "path"))))
    with pytest.raises(MixtuneError, match="no such directory"):
        load_repo_benchmark(f"repo:{tmp_path / 'nowhere'}")


def test_held_out_files_follow_the_mixture_rule(repo):
    for i in range(20):
        (repo / f"m{i}.py").write_text(PY)
    bench = load_repo_benchmark(str(repo), RepoTaskSettings(held_out=0.3, seed=3))
    expected = {
        p for p in ["pkg.py", "web/app.js", *(f"m{i}.py" for i in range(20))] if is_held_out(p, 0.3, 3)
    }
    assert {p.extra["path"] for p in bench.problems} == expected
    everything = {"pkg.py", "web/app.js", "short.py", *(f"m{i}.py" for i in range(20))}
    assert bench.details["dropped"]["not_held_out"] == len(everything) - len(
        {p for p in everything if is_held_out(p, 0.3, 3)}
    )


def test_a_model_fills_repo_tasks_through_fim(tiny_base_dir, repo, tmp_path):
    model = tmp_path / "tiny"
    shutil.copytree(tiny_base_dir, model)
    got = evaluate_repo_infilling(
        str(model),
        str(repo),
        tasks=RepoTaskSettings(lines_per_file=1, spans_per_file=1, context_chars=512),
        settings=GenerationSettings(max_new_tokens=6, batch_size=4),
    )
    assert set(got) == {"exact_match", "edit_similarity", "by_language", "by_kind", "tasks", "results"}
    assert got["tasks"] == 4 and 0.0 <= got["edit_similarity"] <= 1.0
    res = load_results(got["results"])
    assert Path(got["results"]).parent.parent == model / "evals"
    assert res["generation"]["prompt_style"] == "fim" and res["generation"]["backend"] == "transformers"


def test_compare_shows_repo_metrics_beside_pass_at_k(repo, tmp_path):
    light = Path(__file__).resolve().parents[2] / "../shared/benchmarks/human-eval-infilling"
    light = light / "HumanEval-RandomSpanInfillingLight.jsonl.gz"
    first_line = Canned(lambda p: p.canonical_solution.splitlines(keepends=True)[0])
    for label, gen in (("good", None), ("weak", first_line)):
        for key, bench in (("repo", f"repo:{repo}"), ("light", str(light))):
            req = EvalRequest(
                benchmark=bench,
                backend="reference" if gen is None else "auto",
                generator=gen,
                name=label,
                limit=20,
                out=str(tmp_path / label / "evals" / key),  # a model directory's layout
                show_progress=False,
            )
            run_eval(req)
    cmp = compare_runs(load_runs([str(tmp_path / "good"), str(tmp_path / "weak")]), resamples=200)
    light_col = "HumanEval-RandomSpanInfillingLight[:20]"
    assert cmp["benchmarks"] == [light_col, "repo:proj exact match", "repo:proj edit similarity"]
    assert cmp["metrics"] == {
        light_col: "pass@1",
        "repo:proj exact match": "exact match",
        "repo:proj edit similarity": "edit similarity",
    }
    scores = {r["label"]: r["scores"] for r in cmp["runs"]}
    assert scores["good"]["repo:proj exact match"]["score"] == 1.0
    assert scores["good"][light_col]["score"] == 1.0
    assert scores["weak"]["repo:proj exact match"]["score"] < 1.0
    weak_es = scores["weak"]["repo:proj edit similarity"]["score"]
    assert scores["weak"]["repo:proj exact match"]["score"] < weak_es < 1.0  # partial credit for spans
    assert weak_es == pytest.approx(
        load_results(tmp_path / "weak" / "evals" / "repo" / "results.json")["scores"]["edit_similarity"]
    )
    tests = {p["benchmark"]: p["test"] for p in cmp["pairs"]}
    assert tests["repo:proj exact match"] == "exact McNemar"
    assert tests["repo:proj edit similarity"] == "paired bootstrap"
    paths = write_report(cmp, tmp_path / "cmp")
    md = paths["markdown"].read_text()
    assert "repo:proj exact match (mixed) [95% CI]" in md and f"{light_col} pass@1 [95% CI]" in md
    assert paths["plot"].stat().st_size > 0


def test_tasks_holding_fim_sentinel_text_are_left_out_and_counted(tmp_path):
    root = tmp_path / "sentinels"
    root.mkdir()
    text = "".join(f"def h{i}(x):\n    return x + {i}\n\n" for i in range(8))
    (root / "tok.py").write_text(text.replace("return x + 3", "return '<fim_middle>' + x"))
    bench = load_repo_benchmark(
        str(root), RepoTaskSettings(lines_per_file=20, spans_per_file=0, context_chars=64)
    )
    lines = text.splitlines()
    maskable_lines = [line for line in lines if maskable(line)]
    assert bench.details["tasks_with_fim_sentinel_text"] > 0
    assert len(bench.problems) + bench.details["tasks_with_fim_sentinel_text"] == len(maskable_lines)
    assert not any("<fim_" in p.prompt + p.canonical_solution + p.suffix for p in bench.problems)


def test_a_built_completion_mixture_holds_out_what_the_directory_rule_holds_out(tmp_path):
    import yaml

    from mixtures import build_mixture

    root = tmp_path / "src"
    for i in range(12):
        (root / "pkg").mkdir(parents=True, exist_ok=True)
        (root / "pkg" / f"m{i}.py").write_text(PY.replace("total", f"total_{i}"))
    recipe = {
        "name": "proj-code",
        "kind": "completion",
        "sources": [{"code_repo": {"path": "src", "repo": "acme/proj"}}],
        "test": {"holdout": 0.4},
        "seed": 5,
        "output": "mixture",
    }
    (tmp_path / "mix.yaml").write_text(yaml.safe_dump(recipe))
    mixture = build_mixture(tmp_path / "mix.yaml")
    from_mixture = load_repo_benchmark(f"repo:{mixture}")
    from_dir = load_repo_benchmark(f"repo:{root}", RepoTaskSettings(held_out=0.4, seed=5))
    files = {p.extra["path"] for p in from_mixture.problems}
    assert from_mixture.name == "repo:proj-code" and 0 < len(files) < 12
    assert files == {p.extra["path"] for p in from_dir.problems}
