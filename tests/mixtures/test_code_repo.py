"""A local code repository as a source: file completion, function completion, docstring -> code."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from mixtune.errors import DataError
from mixtures import build_mixture, load_mixture

MODULE = textwrap.dedent(
    '''\
    """Geometry helpers."""

    import math


    def circle_area(radius):
        """Area of a circle with the given radius."""
        squared = radius * radius
        return math.pi * squared


    def no_docstring(x):
        y = x + 1
        return y * 2


    class Box:
        """A box."""

        def volume(self, w, h, d):
            """Volume of a w x h x d box."""
            base = w * h
            return base * d
    '''
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "geometry.py").write_text(MODULE)
    (root / "pkg" / "broken.py").write_text("def oops(:\n    pass\n")
    (root / "pkg" / "latin1.py").write_bytes(b"# caf\xe9\nx = 1\n")
    (root / "pkg" / "big.py").write_text("x = 1\n" * 3000)
    (root / "web.js").write_text("function a() {\n  return 1;\n}\n\nfunction b() {\n  return 2;\n}\n")
    for skipped in (".venv/lib", "__pycache__", "node_modules/x"):
        (root / skipped).mkdir(parents=True)
        (root / skipped / "ignored.py").write_text(MODULE)
    (root / "pkg" / "test_geometry.py").write_text(MODULE)
    return root


def _recipe(write_recipe, **code_repo) -> Path:
    spec = {"path": "repo", "include": ["**/*.py", "**/*.js"], "exclude": ["pkg/test_*"], **code_repo}
    return write_recipe(
        {
            "name": "code",
            "kind": "sft",
            "shuffle": False,
            "on_error": "skip",
            "sources": [{"name": "repo", "code_repo": spec}],
        }
    )


def test_rows_from_a_code_repository(tmp_path, repo, write_recipe, check_invariants) -> None:
    recipe = _recipe(write_recipe, tasks=["complete_file", "complete_function", "docstring_to_code"])
    out = build_mixture(recipe, out=tmp_path / "out")
    manifest = check_invariants(out)
    entry = manifest["sources"]["repo"]
    assert entry["identity"]["type"] == "code_repo" and entry["identity"]["files"] == 5
    assert entry["dropped"] == {"file_too_large": 1, "invalid_utf8": 1, "syntax_error": 1}
    rows = load_mixture(out)["train"]
    by_prompt = {r["messages"][0]["content"]: r["messages"][1]["content"] for r in rows}

    # docstring -> implementation: the answer is the function's exact source
    prompt = next(p for p in by_prompt if p.startswith("Write a Python function `def circle_area(radius):`"))
    assert "Area of a circle with the given radius." in prompt and "pkg/geometry.py" in prompt
    assert (
        by_prompt[prompt]
        == "```python\n"
        + MODULE[MODULE.index("def circle_area") : MODULE.index("\n\n\ndef no_doc")]
        + "\n```"
    )
    method = next(p for p in by_prompt if "`def volume(self, w, h, d):`" in p)
    assert (
        by_prompt[method].startswith("```python\ndef volume(self, w, h, d):\n")
        and "return base * d" in by_prompt[method]
    )
    assert not any("no_docstring" in p and p.startswith("Write") for p in by_prompt)

    # complete the function: the prompt holds the head, the answer the whole function
    head = next(p for p in by_prompt if p.startswith("Complete the function `no_docstring`"))
    assert "y = x + 1" in head and "return y * 2" not in head and "return y * 2" in by_prompt[head]

    # complete the file: prompt prefix + answer = the file, cut at a top-level statement
    for name, text in (("pkg/geometry.py", MODULE), ("web.js", (repo / "web.js").read_text())):
        prompt = next(p for p in by_prompt if p.startswith(f"Here is the beginning of `{name}`"))
        fence = "python" if name.endswith(".py") else "javascript"
        prefix = prompt.split(f"```{fence}\n", 1)[1].rsplit("\n```", 1)[0]
        rest = by_prompt[prompt].removeprefix(f"```{fence}\n").removesuffix("\n```")
        assert (prefix + "\n" + rest).split() == text.split()
    assert not any("test_geometry" in p or "ignored" in p for p in by_prompt)

    rejects = {
        json.loads(line)["reason"]: json.loads(line) for line in (out / "rejects" / "repo.jsonl").open()
    }
    assert rejects["syntax_error"]["file"].endswith("pkg/broken.py") and rejects["syntax_error"]["line"] == 1


def test_code_repo_errors_raise_with_file_and_line(tmp_path, repo, write_recipe) -> None:
    (repo / "pkg" / "latin1.py").unlink()
    (repo / "pkg" / "big.py").unlink()
    recipe = write_recipe(
        {
            "name": "code",
            "kind": "sft",
            "sources": [{"code_repo": {"path": "repo", "exclude": ["pkg/test_*"]}}],
        }
    )
    with pytest.raises(DataError, match=r"pkg/broken.py:1: syntax_error"):
        build_mixture(recipe, out=tmp_path / "out")


def test_code_repo_with_no_matching_files(tmp_path, repo, write_recipe) -> None:
    recipe = write_recipe(
        {"name": "code", "kind": "sft", "sources": [{"code_repo": {"path": "repo", "include": ["**/*.rs"]}}]}
    )
    with pytest.raises(DataError, match=r"no files match \['\*\*/\*.rs'\]"):
        build_mixture(recipe, out=tmp_path / "out")


def test_code_change_changes_the_hash(tmp_path, repo, write_recipe) -> None:
    from mixtures import read_manifest

    recipe = _recipe(write_recipe)
    before = read_manifest(build_mixture(recipe, out=tmp_path / "a"))["hash"]
    (repo / "pkg" / "geometry.py").write_text(MODULE.replace("radius * radius", "radius ** 2"))
    after = read_manifest(build_mixture(recipe, out=tmp_path / "b"))["hash"]
    assert before != after
