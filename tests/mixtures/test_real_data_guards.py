"""Bad input ends in an error naming the file, line or key, or (with `on_error: skip`) in a counted
reject — never a traceback; what is on disk is verified before it is trusted; looking at a
mixture never writes into it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mixtune.errors import DataError, RecipeError
from mixtures import build_mixture, load_mixture, read_manifest
from mixtures.recipe import check_offline, load_mixture_recipe

REPO = Path(__file__).resolve().parents[2]
GOOD = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


def _skip(recipe: dict) -> dict:
    return {**recipe, "on_error": "skip"}


# ---------------------------------------------------------------- a folder where a file is expected


def test_folder_of_other_rows_with_a_declared_format(
    tmp_path, write_recipe, write_jsonl, check_invariants
) -> None:
    write_jsonl(tmp_path / "data" / "part.jsonl", [{"conversations": [{"from": "human", "value": "hi"}]}])
    recipe = {"name": "f", "kind": "sft", "sources": [{"path": "data", "format": "messages"}]}
    with pytest.raises(
        DataError,
        match=r"data:train \(row 0\): missing_field: \['messages'\] missing for the declared format 'messages'",
    ):
        build_mixture(write_recipe(recipe), out=tmp_path / "out")
    write_jsonl(tmp_path / "data" / "part.jsonl", [GOOD, {"conversations": []}])
    manifest = check_invariants(build_mixture(write_recipe(_skip(recipe)), out=tmp_path / "out"))
    assert manifest["sources"]["data"]["dropped"] == {"missing_field": 1}


def test_folder_without_data_files_is_a_validate_error(tmp_path, write_recipe) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.md").write_text("# notes\n")
    recipe = write_recipe({"name": "f", "kind": "sft", "sources": [{"path": "notes"}]})
    with pytest.raises(RecipeError, match=r"sources\.0\.path: .*notes is a folder with no data files"):
        check_offline(load_mixture_recipe(recipe), recipe)


def test_benchmark_folder_is_a_validate_error(tmp_path, write_recipe, write_jsonl) -> None:
    write_jsonl(tmp_path / "d.jsonl", [GOOD])
    (tmp_path / "bench").mkdir()
    filters = {"decontamination": {"benchmarks": [{"path": "bench", "fields": ["text"]}]}}
    recipe = write_recipe({"name": "f", "kind": "sft", "filters": filters, "sources": [{"path": "d.jsonl"}]})
    with pytest.raises(
        RecipeError, match=r"filters\.decontamination\.benchmarks\.0\.path: .*bench is a folder"
    ):
        check_offline(load_mixture_recipe(recipe), recipe)


def test_benchmark_fields_checked_at_validate(tmp_path, write_recipe, write_jsonl) -> None:
    write_jsonl(tmp_path / "d.jsonl", [GOOD])
    write_jsonl(tmp_path / "mbpp.jsonl", [{"text": "t", "code": "c"}])
    filters = {"decontamination": {"benchmarks": [{"path": "mbpp.jsonl", "fields": ["text", "solution"]}]}}
    recipe = write_recipe({"name": "f", "kind": "sft", "filters": filters, "sources": [{"path": "d.jsonl"}]})
    with pytest.raises(
        RecipeError, match=r"benchmarks\.0\.fields: .*mbpp.jsonl:1 has no field\(s\) \['solution'\]"
    ):
        check_offline(load_mixture_recipe(recipe), recipe)


# ---------------------------------------------------------------- weights


@pytest.mark.parametrize(
    ("weight", "message"),
    [
        (".inf", "must be a finite number"),
        ("1e9", "repeats the source more than 10000 times"),
        (".nan", "must be a finite number"),
    ],
)
def test_impossible_weights_fail_validate(tmp_path, weight, message) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: w\nkind: sft\nsources:\n  - path: d.jsonl\n    weight: {weight}\n")
    with pytest.raises(RecipeError, match=rf"sources\.0\.weight: .*{message}"):
        load_mixture_recipe(recipe)


# ---------------------------------------------------------------- deep JSON


def _deep(depth: int) -> str:
    return '{"messages": ' + "[" * depth + "]" * depth + "}"


def test_deeply_nested_json_line(tmp_path, write_recipe, check_invariants) -> None:
    (tmp_path / "d.jsonl").write_text(
        json.dumps(GOOD) + "\n" + _deep(100_000) + "\n" + json.dumps(GOOD) + "\n"
    )
    recipe = {"name": "deep", "kind": "sft", "sources": [{"path": "d.jsonl"}]}
    with pytest.raises(DataError, match=r"d\.jsonl:2: too_deeply_nested"):
        build_mixture(write_recipe(recipe), out=tmp_path / "out")
    manifest = check_invariants(build_mixture(write_recipe(_skip(recipe)), out=tmp_path / "out"))
    assert manifest["sources"]["d"]["dropped"] == {"too_deeply_nested": 1}
    assert manifest["sources"]["d"]["kept"] == 2


def test_deeply_nested_json_array_element(tmp_path, write_recipe, check_invariants) -> None:
    text = (
        "[\n"
        + json.dumps(GOOD)
        + ",\n"
        + _deep(100_000)
        + ',\n{"messages": "]}[{\\"x"},\n'
        + json.dumps(GOOD)
        + "\n]\n"
    )
    (tmp_path / "d.json").write_text(text)
    manifest = check_invariants(
        build_mixture(
            write_recipe(_skip({"name": "deep", "kind": "sft", "sources": [{"path": "d.json"}]})),
            out=tmp_path / "out",
        )
    )
    assert manifest["sources"]["d"]["dropped"] == {"bad_type": 1, "too_deeply_nested": 1}
    rejects = [json.loads(x) for x in (tmp_path / "out" / "rejects" / "d.jsonl").read_text().splitlines()]
    assert {(r["reason"], r["line"]) for r in rejects} == {("too_deeply_nested", 3), ("bad_type", 4)}


# ---------------------------------------------------------------- code_repo stays inside its root


def test_code_repo_never_reads_outside_its_root(tmp_path, write_recipe, check_invariants) -> None:
    secret = "SECRET_OUTSIDE_THE_REPO = 'do not train on me'\n" * 3
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text(secret)
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "ok.py").write_text(
        "import os\n\n\ndef f(x):\n    y = x + 1\n    return y * 2\n\n\nZ = f(1)\n"
    )
    (repo / "pkg" / "link.py").symlink_to(outside / "secret.py")
    (repo / "linked").symlink_to(outside)
    source = {"code_repo": {"path": "repo", "include": ["**/*.py", "linked/*.py"]}}
    recipe = {"name": "repo", "kind": "sft", "sources": [source]}
    with pytest.raises(
        DataError, match=r"(link\.py|linked/secret\.py):1: outside_repository: links to .*secret\.py"
    ):
        build_mixture(write_recipe(recipe), out=tmp_path / "out")
    out = build_mixture(write_recipe(_skip(recipe)), out=tmp_path / "out")
    manifest = check_invariants(out)
    assert manifest["sources"]["repo"]["dropped"] == {"outside_repository": 2}
    assert manifest["sources"]["repo"]["kept"] >= 1
    for path in out.rglob("*"):
        if path.is_file():
            assert b"SECRET_OUTSIDE_THE_REPO" not in path.read_bytes(), path


# ---------------------------------------------------------------- empty assistant turns


def test_drop_empty_assistant_acts(tmp_path, write_recipe, write_jsonl, check_invariants) -> None:
    empty = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "  "}]}
    write_jsonl(tmp_path / "d.jsonl", [GOOD, empty])
    recipe = {"name": "e", "kind": "sft", "sources": [{"path": "d.jsonl"}]}
    with pytest.raises(DataError, match=r"d\.jsonl:2: empty_content"):
        build_mixture(write_recipe(recipe), out=tmp_path / "out")
    recipe["filters"] = {"length": {"drop_empty_assistant": True}}
    manifest = check_invariants(build_mixture(write_recipe(recipe), out=tmp_path / "out"))
    assert manifest["sources"]["d"]["dropped"] == {"empty_assistant": 1}


# ---------------------------------------------------------------- killed builds, damaged outputs


KILL_DURING_WRITE = """
import os, signal, sys
import mixtures.writer as writer
real = writer.write_mixture
def killed(out, **kwargs):
    real(out, **kwargs)              # the output folder is half made, the work folder full
    os.kill(os.getpid(), signal.SIGKILL)
writer.write_mixture = killed
from mixtures import build_mixture
build_mixture(sys.argv[1], out=sys.argv[2])
"""


def test_killed_build_is_cleaned_by_the_next(tmp_path, write_recipe, write_jsonl, monkeypatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("MIXTUNE_CACHE", str(cache))
    write_jsonl(tmp_path / "d.jsonl", [GOOD, {**GOOD, "id": 2}])
    recipe = write_recipe({"name": "k", "kind": "sft", "sources": [{"path": "d.jsonl"}]})
    out = tmp_path / "out"
    env = {**os.environ, "MIXTUNE_CACHE": str(cache), "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", KILL_DURING_WRITE, str(recipe), str(out)],
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    left = [p for p in (cache / "work").iterdir()]
    tmp_out = list(tmp_path.glob(".out.tmp-*"))
    assert left and tmp_out and not out.exists()
    build_mixture(recipe, out=out)
    assert list((cache / "work").iterdir()) == [] and list(tmp_path.glob(".out.tmp-*")) == []
    assert read_manifest(out)["splits"]["train"] == 2


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_truncated_arrow_is_not_up_to_date(tmp_path, write_recipe, write_jsonl, caplog) -> None:
    write_jsonl(tmp_path / "d.jsonl", [GOOD] * 5)
    recipe = write_recipe({"name": "t", "kind": "sft", "sources": [{"path": "d.jsonl"}]})
    out = build_mixture(recipe, out=tmp_path / "out")
    before = _digest(out)
    assert set(read_manifest(out)["file_hashes"]) == set(before) - {"manifest.json"}
    arrow = next((out / "train").glob("*.arrow"))
    arrow.write_bytes(arrow.read_bytes()[:100])
    with pytest.raises(DataError, match=r"damaged mixture \(train/.*\.arrow is 100 bytes"):
        load_mixture(out)
    with caplog.at_level("WARNING", logger="mixtures.build"):
        build_mixture(recipe, out=tmp_path / "out")
    assert "damaged" in caplog.text
    assert _digest(out) == before
    # a changed byte of the same size is caught by the sha256
    data = bytearray(arrow.read_bytes())
    data[-1] ^= 1
    arrow.write_bytes(bytes(data))
    build_mixture(recipe, out=tmp_path / "out")
    assert _digest(out) == before


def test_looking_never_writes(tmp_path, write_recipe, write_jsonl, capsys) -> None:
    from mixtune.cli import main
    from mixtures.compare import compare_mixtures
    from mixtures.stats import mixture_stats

    write_jsonl(
        tmp_path / "d.jsonl",
        [{"instruction": f"q{i}", "output": f"```python\nx = {i}\n```"} for i in range(30)],
    )
    a = build_mixture(
        write_recipe({"name": "a", "kind": "sft", "sources": [{"path": "d.jsonl"}]}, "a.yaml"),
        out=tmp_path / "a",
    )
    b = build_mixture(
        write_recipe({"name": "b", "kind": "sft", "sources": [{"path": "d.jsonl", "weight": 0.5}]}, "b.yaml"),
        out=tmp_path / "b",
    )
    before = (_digest(a), _digest(b))
    mixture_stats(a)
    compare_mixtures([a, b], tmp_path / "cmp")
    assert main(["mix", "stats", str(a), "--out", str(tmp_path / "st")]) == 0
    assert main(["mix", "show", str(b), "--rows", "2"]) == 0
    capsys.readouterr()
    assert (_digest(a), _digest(b)) == before


# ---------------------------------------------------------------- validate says what build needs


@pytest.mark.parametrize(
    ("recipe_extra", "key"),
    [
        (
            {"filters": {"length": {"max_tokens": 4096, "tokenizer": "bigcode/starcoder2-15b"}}},
            "filters.length.tokenizer",
        ),
        ({"tokenizer": "bigcode/starcoder2-15b"}, "tokenizer"),
        ({"tokenizer": "./no-such-tokenizer"}, "tokenizer"),
    ],
)
def test_tokenizer_not_available_offline_fails_validate(
    tmp_path, write_recipe, write_jsonl, capsys, recipe_extra, key
) -> None:
    from mixtune.cli import main

    write_jsonl(tmp_path / "d.jsonl", [GOOD])
    recipe = write_recipe({"name": "v", "kind": "sft", "sources": [{"path": "d.jsonl"}], **recipe_extra})
    assert main(["mix", "validate", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert f": {key}: tokenizer " in err and "is not available offline" in err and "Traceback" not in err
    with pytest.raises(RecipeError, match=key):
        build_mixture(recipe, out=tmp_path / "out")


def test_local_tokenizer_folder_passes_validate(tmp_path, write_recipe, write_jsonl) -> None:
    write_jsonl(tmp_path / "d.jsonl", [GOOD])
    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "tokenizer.json").write_text("{}")
    filters = {"length": {"max_tokens": 4096, "tokenizer": "./tok"}}
    recipe = write_recipe({"name": "v", "kind": "sft", "filters": filters, "sources": [{"path": "d.jsonl"}]})
    check_offline(load_mixture_recipe(recipe), recipe)


def test_output_that_is_not_a_mixture_fails_validate_and_build_before_work(
    tmp_path, write_recipe, write_jsonl, caplog
) -> None:
    from mixtune.errors import MixtuneError

    write_jsonl(tmp_path / "d.jsonl", [GOOD])
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    recipe = write_recipe({"name": "o", "kind": "sft", "output": "notes", "sources": [{"path": "d.jsonl"}]})
    with pytest.raises(RecipeError, match=r": output: .*notes exists and is not a built mixture"):
        check_offline(load_mixture_recipe(recipe), recipe)
    other = write_recipe({"name": "o", "kind": "sft", "sources": [{"path": "d.jsonl"}]}, "other.yaml")
    with (
        caplog.at_level("INFO", logger="mixtures.build"),
        pytest.raises(MixtuneError, match="refusing to overwrite"),
    ):
        build_mixture(other, out=tmp_path / "notes")
    assert "normalised" not in caplog.text  # refused before reading any data
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"
    assert not list(tmp_path.glob(".notes.tmp-*"))
