"""`mixtune eval --check-training-data`: a sample that repeats a training row verbatim is found
(through the ground package's query, mixtune.attribution) with that row's mixture, source and row; the rate is in results.json, the printed summary and
`mixtune compare`; a model without recorded mixtures is refused before anything is generated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.compare import compare_runs, load_runs
from evals.evaluate import EvalRequest, run_eval
from evals.report import markdown
from evals.results import load_results
from mixtune.errors import MixtuneError

BODY = "    total = 0\n    for value in values:\n        total += value\n    return total\n"
ROWS = [
    {
        "id": "running-total",
        "messages": [
            {"role": "user", "content": "Sum a list of numbers."},
            {"role": "assistant", "content": f"```python\ndef running_total(values):\n{BODY}```"},
        ],
    },
    {
        "id": "greeting",
        "messages": [
            {"role": "user", "content": "Greet someone."},
            {"role": "assistant", "content": "```python\ndef greet(name):\n    return 'hello ' + name\n```"},
        ],
    },
]
TASKS = [
    {"task_id": "t/0", "prompt": "def running_total(values):\n", "entry_point": "running_total",
     "test": "def check(f):\n    assert f([1, 2, 3]) == 6\n"},
    {"task_id": "t/1", "prompt": "def product(values):\n", "entry_point": "product",
     "test": "def check(f):\n    assert f([2, 3]) == 6\n"},
    {"task_id": "t/2", "prompt": "def one():\n", "entry_point": "one", "test": "def check(f):\n    assert f() == 1\n"},
]  # fmt: skip
ANSWERS = {
    "t/0": BODY,  # a training row's code, verbatim
    "t/1": "    result = 1\n    for factor in values:\n        result = result * factor\n    return result\n",
    "t/2": "    return 1\n",  # too short to say anything about copying
}


class Canned:
    backend = "canned"
    has_chat_template = False
    tokenizer = None
    calls = 0

    def generate(self, prepared, settings):
        Canned.calls += 1
        return [[ANSWERS[p.problem.task_id]] * settings.n for p in prepared]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(model directory whose run record names the mixture, the mixture, the benchmark file)."""
    import yaml

    from mixtune.manifest import read_manifest
    from mixtures import build_mixture
    from mixtures.search_index import build_index

    root = tmp_path_factory.mktemp("training-data")
    (root / "code.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    recipe = {
        "name": "copied-code",
        "kind": "sft",
        "sources": [{"name": "toy-code", "path": "code.jsonl"}],
        "test": {"holdout": 0},
        "output": "mixture",
    }
    (root / "mixture.yaml").write_text(yaml.safe_dump(recipe))
    mixture = build_mixture(root / "mixture.yaml")
    build_index(mixture)
    model = root / "model"
    model.mkdir()
    lineage = {
        "stage": "sft",
        "name": "copied-code",
        "hash": read_manifest(mixture)["hash"],
        "path": str(mixture),
    }
    (model / "mixtune_run.json").write_text(json.dumps({"stage": "sft", "mixtures": [lineage]}))
    bench = root / "mini.jsonl"
    bench.write_text("".join(json.dumps(t) + "\n" for t in TASKS))
    return model, mixture, bench


def _row_of(mixture: Path, row_id: str) -> int:
    from datasets import load_from_disk

    ids = load_from_disk(str(mixture))["train"]["id"]
    return ids.index(row_id)


def test_a_verbatim_training_row_is_found_with_its_source_and_row(trained, tmp_path, capsys):
    model, mixture, bench = trained
    req = EvalRequest(
        model=str(model),
        benchmark=str(bench),
        generator=Canned(),
        check_training_data=True,
        out=str(tmp_path / "run"),
        show_progress=False,
    )
    res = load_results(run_eval(req))
    check = res["training_data"]
    assert (check["checked"], check["found"], check["rate"]) == (2, 1, 0.5)
    assert check["skipped"] == {"too_short": 1} and check["mixtures"] == ["copied-code"]
    (hit,) = check["found_samples"]
    expected_row = _row_of(mixture, hit["row_id"])
    assert (hit["task_id"], hit["mixture"], hit["source"], hit["row"]) == (
        "t/0",
        "copied-code",
        "toy-code",
        expected_row,
    )
    assert hit["similarity"] == 1.0 and hit["split"] == "train"
    assert [p["found_in_training_data"] for p in res["problems"]] == [1, 0, 0]
    samples = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert samples[0]["training_data"]["match"]["row_id"] == hit["row_id"]
    assert samples[1]["training_data"] == {"checked": True, "found": False}
    assert samples[2]["training_data"] == {"checked": False, "reason": "too_short"}
    assert res["verdicts"] == {"passed": 3}  # the check never changes the verdicts

    from evals.cli import print_summary

    print_summary(res)
    printed = capsys.readouterr().out
    assert "found in training data: 50.0% (1 of 2 checked samples; skipped: {'too_short': 1})" in printed
    assert f"t/0 #0: mixture copied-code, source toy-code, row {expected_row}" in printed

    cmp = compare_runs(load_runs([str(tmp_path / "run")], ["copier"]), resamples=200)
    assert cmp["runs"][0]["training_data"]["mini"]["rate"] == 0.5
    md = markdown(cmp)
    assert "## Samples found in training data" in md
    assert f"| copier | mini | 50.0% (1) | 2 | t/0: copied-code / toy-code row {expected_row}" in md


def test_the_check_needs_a_model_with_recorded_mixtures(trained, tmp_path):
    _, _, bench = trained
    bare = tmp_path / "bare"
    bare.mkdir()
    Canned.calls = 0
    for model, message in ((bare, "mixtune_run.json naming its"), (None, "no model")):
        with pytest.raises(MixtuneError, match=message):
            run_eval(
                EvalRequest(
                    model=str(model) if model else None,
                    benchmark=str(bench),
                    generator=Canned(),
                    check_training_data=True,
                    out=str(tmp_path / "x"),
                )
            )
    assert Canned.calls == 0  # refused before generating
    (bare / "mixtune_run.json").write_text(json.dumps({"stage": "sft", "mixtures": []}))
    with pytest.raises(MixtuneError, match="records no training mixtures"):
        run_eval(
            EvalRequest(model=str(bare), benchmark=str(bench), generator=Canned(), check_training_data=True)
        )


def test_a_missing_index_fails_the_run_before_generating(trained, tmp_path):
    from mixtune.errors import DataError

    model, _, bench = trained

    def no_index(model_dir, code, top=3):
        raise DataError("mixture copied-code has no search index; build it with `mixtune mix index DIR`")

    Canned.calls = 0
    with pytest.raises(MixtuneError, match="--check-training-data: mixture copied-code has no search index"):
        run_eval(
            EvalRequest(
                model=str(model),
                benchmark=str(bench),
                generator=Canned(),
                check_training_data=True,
                finder=no_index,
            )
        )
    assert Canned.calls == 0


def test_the_ground_query_names_the_command_when_an_index_is_missing(trained, tmp_path):
    import shutil

    model, mixture, bench = trained
    copy = tmp_path / "copied-code"
    shutil.copytree(mixture, copy)  # the mixture without its sibling `.index` folder
    other = tmp_path / "model"
    other.mkdir()
    record = json.loads((model / "mixtune_run.json").read_text())
    record["mixtures"][0]["path"] = str(copy)
    (other / "mixtune_run.json").write_text(json.dumps(record))
    Canned.calls = 0
    with pytest.raises(
        MixtuneError, match=r"--check-training-data: mixture 'copied-code' .*mixtune mix index"
    ):
        run_eval(
            EvalRequest(model=str(other), benchmark=str(bench), generator=Canned(), check_training_data=True)
        )
    assert Canned.calls == 0
