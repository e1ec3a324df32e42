"""Mixture statistics and comparison on small built mixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from mixtures.compare import compare_mixtures
from mixtures.stats import block_language, guess_language, mixture_stats

PY = "```python\ndef add(a, b):\n    return a + b\n```"
JS_UNTAGGED = "```\nconst add = (a, b) => a + b;\nconsole.log(add(1, 2));\n```"


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _chat(user: str, assistant: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


@pytest.fixture(scope="module")
def mixtures_built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from mixtures import build_mixture

    root = tmp_path_factory.mktemp("stats")
    _write(
        root / "code.jsonl",
        [
            _chat(f"add numbers, variant {i}", f"Here you go:\n\n{PY}\n\nAnd in JS:\n\n{JS_UNTAGGED}")
            for i in range(10)
        ],
    )
    _write(
        root / "chat.jsonl",
        [
            {
                "messages": [
                    {"role": "user", "content": f"hello number {i}"},
                    {"role": "assistant", "content": "hi there, how can I help?"},
                    {"role": "user", "content": "tell me about lists"},
                    {"role": "assistant", "content": "Lists are ordered and mutable."},
                ]
            }
            for i in range(6)
        ]
        + [_chat("duplicate question", "same answer")] * 2,
    )
    _write(root / "extra.jsonl", [_chat(f"what is {i} squared", f"{i * i}") for i in range(4)])
    base = {"kind": "sft", "test": {"holdout": 0}, "shuffle": False}
    recipe_a = {
        **base,
        "name": "mix-a",
        "sources": [{"name": "code", "path": "code.jsonl"}, {"name": "chat", "path": "chat.jsonl"}],
    }
    recipe_b = {
        **base,
        "name": "mix-b",
        "sources": [
            {"name": "code", "path": "code.jsonl", "weight": 2.0},
            {"name": "chat", "path": "chat.jsonl"},
            {"name": "extra", "path": "extra.jsonl"},
        ],
        "filters": {"exact_dedup": True},
    }
    for name, recipe in (("a.yaml", recipe_a), ("b.yaml", recipe_b)):
        (root / name).write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return build_mixture(root / "a.yaml", out=root / "mix-a"), build_mixture(
        root / "b.yaml", out=root / "mix-b"
    )


def test_stats_of_a_mixture(mixtures_built: tuple[Path, Path]) -> None:
    _, b = mixtures_built
    stats = mixture_stats(b)
    assert stats["name"] == "mix-b" and stats["unit"] == "characters"
    sources = stats["sources"]
    assert {k: v["rows"] for k, v in sources.items()} == {"code": 20, "chat": 7, "extra": 4}
    assert sum(v["rows"] for v in sources.values()) == stats["splits"]["train"] == 31
    assert sum(v["share_rows"] for v in sources.values()) == pytest.approx(1.0, abs=1e-4)
    assert sum(v["share_characters"] for v in sources.values()) == pytest.approx(1.0, abs=1e-4)
    code_chars = len("add numbers, variant 0") + len(f"Here you go:\n\n{PY}\n\nAnd in JS:\n\n{JS_UNTAGGED}")
    assert sources["code"]["length"]["p50"] == pytest.approx(code_chars, abs=1)
    assert sources["chat"]["turns_mean"] == pytest.approx((6 * 4 + 2) / 7, abs=1e-3)
    assert stats["split_stats"]["train"]["turns"]["histogram"] == {"2": 25, "4": 6}
    assert stats["split_stats"]["train"]["languages"] == {"python": 20, "javascript": 20}
    assert sources["chat"]["dropped"] == {"exact_duplicate": 1} and stats["dropped"] == {"exact_duplicate": 1}
    counts = stats["length_histogram"]["counts"]
    assert sum(counts["code"]) == 20 and sum(counts["extra"]) == 4


def test_token_counts_use_the_named_tokenizer(mixtures_built: tuple[Path, Path], tiny_base_dir: Path) -> None:
    from transformers import AutoTokenizer

    from mixtures import load_mixture

    a, _ = mixtures_built
    stats = mixture_stats(a, tokenizer=str(tiny_base_dir))
    tok = AutoTokenizer.from_pretrained(tiny_base_dir)
    train = load_mixture(a)["train"]
    expected = sum(
        len(tok(m["content"], add_special_tokens=False)["input_ids"]) for r in train for m in r["messages"]
    )
    assert stats["unit"] == "tokens"
    assert sum(v["tokens"] for v in stats["sources"].values()) == expected
    assert expected != sum(v["characters"] for v in mixture_stats(a)["sources"].values())


def test_compare_writes_report_and_plots(mixtures_built: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = mixtures_built
    out = compare_mixtures([a, b], tmp_path / "cmp")
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "# Mixture comparison: `mix-a` vs `mix-b`" in report
    assert "- only in `mix-b`: `extra`" in report
    assert "| exact_duplicate | 0 | 1 |" in report
    assert "Δ (2nd − 1st)" in report
    for png in ("composition.png", "lengths.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    both = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert list(both) == ["mix-a", "mix-b"]
    code_share_a = both["mix-a"]["sources"]["code"]["share_rows"]
    assert code_share_a == pytest.approx(10 / 18, abs=1e-4)
    assert f"| code | {100 * both['mix-a']['sources']['code']['share_characters']:.1f}% |" in report


def test_mix_stats_and_compare_commands(
    mixtures_built: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mixtune.cli import main

    a, b = mixtures_built
    assert main(["mix", "stats", str(a), "--out", str(tmp_path / "st")]) == 0
    printed = capsys.readouterr().out
    assert "# Mixture stats: `mix-a`" in printed and "| code | 10 |" in printed
    assert {p.name for p in (tmp_path / "st").iterdir()} == {
        "report.md",
        "stats.json",
        "composition.png",
        "lengths.png",
    }
    assert main(["mix", "compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    assert (tmp_path / "cmp" / "report.md").is_file()
    assert main(["mix", "compare", str(a)]) == 2
    assert "at least two" in capsys.readouterr().err
    assert main(["mix", "stats", str(tmp_path)]) == 2


def test_code_block_languages() -> None:
    assert block_language("py", "") == "python" and block_language("C++", "") == "cpp"
    assert guess_language("def f(x):\n    return x\n") == "python"
    assert guess_language('#include <stdio.h>\nint main() { printf("hi"); }') == "c"
    assert guess_language('fn main() {\n    let mut x = 1;\n    println!("{}", x);\n}') == "rust"
    assert guess_language("SELECT name FROM users WHERE id = 1;") == "sql"
    assert guess_language("just some words") == "unknown"


def test_build_stats_and_mix_stats_share_one_definition(tmp_path: Path, tiny_base_dir: Path) -> None:
    """The manifest's lengths and `mix stats` count the same: turns without the system prompt,
    characters and per-message tokens, p50/p95 as nearest-rank lengths some row has."""
    from mixtures import build_mixture, read_manifest

    rows = [
        {
            "messages": [
                *([{"role": "system", "content": "Be brief."}] if i % 2 else []),
                {"role": "user", "content": "q" * (3 + i)},
                {"role": "assistant", "content": "a" * (10 * i + 1)},
            ]
        }
        for i in range(6)
    ]
    _write(tmp_path / "d.jsonl", rows)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {"name": "one-def", "kind": "sft", "test": {"holdout": 0}, "sources": [{"path": "d.jsonl"}]}
        ),
        encoding="utf-8",
    )
    built = build_mixture(recipe, out=tmp_path / "out")
    manifest = read_manifest(built)["stats"]["train"]["all"]
    stats = mixture_stats(built)["split_stats"]["train"]
    chars = sorted(sum(len(m["content"]) for m in r["messages"]) for r in rows)
    assert manifest["messages_turns"]["mean"] == stats["turns"]["mean"] == 2.0
    assert manifest["messages_chars"] == stats["length"]
    assert stats["length"]["p50"] in chars and stats["length"]["p95"] in chars
    tokens = mixture_stats(built, tokenizer=str(tiny_base_dir))["split_stats"]["train"]["length"]
    rebuilt = tmp_path / "r-tok.yaml"
    rebuilt.write_text(
        yaml.safe_dump(
            {
                "name": "one-def",
                "kind": "sft",
                "tokenizer": str(tiny_base_dir),
                "test": {"holdout": 0},
                "sources": [{"path": "d.jsonl"}],
            }
        ),
        encoding="utf-8",
    )
    with_tok = read_manifest(build_mixture(rebuilt, out=tmp_path / "out-tok"))["stats"]["train"]["all"]
    assert with_tok["messages_tokens"] == tokens
