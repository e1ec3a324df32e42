"""Per-source settings: `replace` fills `{{...}}` placeholders (and those left are counted and
warned about), `filters:` inside a source changes or switches off a filter for that source."""

from __future__ import annotations

import logging

import pytest

from mixtune.errors import RecipeError
from mixtures import build_mixture, load_mixture, read_manifest
from mixtures.recipe import load_mixture_recipe


def _identity_rows(n: int) -> list[dict]:
    return [
        {
            "instruction": f"Who are you? (variant {i})",
            "output": f"I am {{{{name}}}}, an assistant trained by {{{{author}}}}. Ask me anything, variant {i}.",
        }
        for i in range(n)
    ]


def test_placeholders_are_counted_and_warned(tmp_path, write_recipe, write_jsonl, caplog) -> None:
    write_jsonl(tmp_path / "identity.jsonl", _identity_rows(6))
    recipe = write_recipe({"name": "id", "kind": "sft", "sources": [{"path": "identity.jsonl"}]})
    with caplog.at_level(logging.WARNING, logger="mixtures.build"):
        out = build_mixture(recipe, out=tmp_path / "out")
    entry = read_manifest(out)["sources"]["identity"]
    assert entry["placeholders"] == {"rows": 6, "names": {"author": 6, "name": 6}}
    assert "6 row(s) hold template placeholders" in caplog.text and "{{name}} x6" in caplog.text
    assert "placeholders" in (out / "report.md").read_text()


def test_replace_fills_placeholders(tmp_path, write_recipe, write_jsonl) -> None:
    write_jsonl(tmp_path / "identity.jsonl", _identity_rows(3))
    source = {"path": "identity.jsonl", "replace": {"name": "Mixtune", "author": "the Mixtune team"}}
    out = build_mixture(
        write_recipe({"name": "id", "kind": "sft", "sources": [source]}), out=tmp_path / "out"
    )
    entry = read_manifest(out)["sources"]["identity"]
    assert entry["placeholders"] == {"rows": 0, "names": {}}
    for row in load_mixture(out)["train"]:
        assert row["messages"][1]["content"].startswith(
            "I am Mixtune, an assistant trained by the Mixtune team."
        )


def test_partial_replace_counts_what_is_left(tmp_path, write_recipe, write_jsonl) -> None:
    write_jsonl(tmp_path / "identity.jsonl", _identity_rows(2))
    source = {"path": "identity.jsonl", "replace": {"name": "Mixtune"}}
    out = build_mixture(
        write_recipe({"name": "id", "kind": "sft", "sources": [source]}), out=tmp_path / "out"
    )
    assert read_manifest(out)["sources"]["identity"]["placeholders"] == {"rows": 2, "names": {"author": 2}}


def _near_copies(prefix: str, n: int) -> list[dict]:
    base = "the quick brown fox jumps over the lazy dog near the quiet river bank every single morning"
    return [
        {"instruction": f"{prefix}: describe the scene", "output": f"{base} {prefix} {i}"} for i in range(n)
    ]


def test_source_can_switch_a_filter_off(tmp_path, write_recipe, write_jsonl, check_invariants) -> None:
    write_jsonl(tmp_path / "identity.jsonl", _near_copies("identity", 8))
    write_jsonl(tmp_path / "web.jsonl", _near_copies("web", 8))
    recipe = {
        "name": "f",
        "kind": "sft",
        "filters": {"near_dedup": {"threshold": 0.7}},
        "sources": [
            {"path": "identity.jsonl", "filters": {"near_dedup": False}},
            {"path": "web.jsonl"},
        ],
    }
    manifest = check_invariants(build_mixture(write_recipe(recipe), out=tmp_path / "out"))
    identity, web = manifest["sources"]["identity"], manifest["sources"]["web"]
    assert identity["kept"] == 8 and identity["dropped"] == {}
    assert web["kept"] < 8 and web["dropped"].get("near_duplicate", 0) == 8 - web["kept"]
    assert identity["filters"] == {"overrides": {"near_dedup": False}, "enabled": []}
    assert "filters" not in web


def test_source_changes_a_filter_setting(tmp_path, write_recipe, write_jsonl, check_invariants) -> None:
    rows = [{"instruction": "say it", "output": "x" * n} for n in (5, 50, 500)]
    write_jsonl(tmp_path / "short.jsonl", rows)
    write_jsonl(tmp_path / "long.jsonl", rows)
    recipe = {
        "name": "f",
        "kind": "sft",
        "filters": {"length": {"max_chars": 1000}},
        "sources": [
            {"path": "short.jsonl", "filters": {"length": {"max_chars": 100}}},
            {"path": "long.jsonl"},
        ],
    }
    manifest = check_invariants(build_mixture(write_recipe(recipe), out=tmp_path / "out"))
    assert manifest["sources"]["short"]["dropped"] == {"too_long": 1}
    assert manifest["sources"]["long"]["dropped"] == {}
    assert manifest["sources"]["short"]["filters"]["overrides"] == {"length": {"max_chars": 100}}


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"near_dedupe": False}, r"sources\.0\.filters.*'near_dedupe' is not a filter.*near_dedup"),
        ({"near_dedup": {"treshold": 0.5}}, r"sources\.0\.filters.*near_dedup\.treshold"),
        ({"length": "off"}, r"sources\.0\.filters.*filters\.length: give true, false or a mapping"),
    ],
)
def test_bad_source_filters_name_the_key(write_recipe, filters, message) -> None:
    recipe = write_recipe({"name": "f", "kind": "sft", "sources": [{"path": "x.jsonl", "filters": filters}]})
    with pytest.raises(RecipeError, match=message):
        load_mixture_recipe(recipe)


def test_role_map_target_is_checked(write_recipe) -> None:
    recipe = write_recipe(
        {"name": "f", "kind": "sft", "sources": [{"path": "x.jsonl", "role_map": {"bot": "asistant"}}]}
    )
    with pytest.raises(RecipeError, match=r"sources\.0\.role_map.*'bot' maps to 'asistant'.*assistant"):
        load_mixture_recipe(recipe)
