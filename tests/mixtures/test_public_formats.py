"""Public schemas as their own documentation publishes them build unchanged, format detected:
tool-calling rows keep their tools and calls, LLaMA-Factory preference rows and list-of-parts
rows are kept, and an image part is a counted reject that says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mixtune.errors import DataError
from mixtures import build_mixture, chat_row, load_mixture, read_manifest

PUBLIC = Path(__file__).resolve().parent / "fixtures" / "public"


def _rows_of(dd, source: str) -> list[dict]:
    return sorted(
        (r for r in dd["train"] if r["source"] == source), key=lambda r: int(r["id"].rsplit("/", 1)[1])
    )


@pytest.fixture(scope="module")
def sft_mixture(tmp_path_factory) -> Path:
    import yaml

    tmp = tmp_path_factory.mktemp("public")
    recipe = {
        "name": "public-sft",
        "kind": "sft",
        "on_error": "skip",
        "sources": [
            {"name": name, "path": str(PUBLIC / file)}
            for name, file in (
                ("glaive", "glaive_toolcall.json"),
                ("openai", "openai_tools.jsonl"),
                ("sharegpt", "sharegpt_system.json"),
                ("parts", "content_parts.jsonl"),
                ("mllm", "llamafactory_mllm.json"),
            )
        ],
    }
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return build_mixture(path, out=tmp / "out")


def test_every_public_sft_row_kept_or_counted(sft_mixture, check_invariants) -> None:
    manifest = check_invariants(sft_mixture)
    sources = manifest["sources"]
    assert {n: (e["rows_in"], e["kept"]) for n, e in sources.items()} == {
        "glaive": (4, 4),
        "openai": (4, 4),
        "sharegpt": (2, 2),
        "parts": (3, 2),
        "mllm": (2, 1),
    }
    assert sources["mllm"]["dropped"] == {"non_text_content": 1}
    assert sources["parts"]["dropped"] == {"non_text_content": 1}
    assert sources["glaive"]["formats"] == {"sharegpt": 4}
    assert sources["openai"]["formats"] == {"messages": 4}
    assert manifest["tool_calling"] is True and "tools" in manifest["columns"]
    # what the canonical rows do not keep is counted, not silently dropped
    assert sources["openai"]["ignored_fields"] == {"messages[].weight": 1}
    assert (
        sources["glaive"]["ignored_fields"] == {}
        and "Fields not kept" in (sft_mixture / "report.md").read_text()
    )
    reject = json.loads((sft_mixture / "rejects" / "parts.jsonl").read_text().splitlines()[0])
    assert "image_url" in reject["detail"] and "only text parts" in reject["detail"]
    assert reject["line"] == 3


def test_glaive_function_calls_keep_tools_and_calls(sft_mixture) -> None:
    rows = _rows_of(load_mixture(sft_mixture), "glaive")
    first = chat_row(rows[0])
    assert [m["role"] for m in first["messages"]] == ["user", "assistant", "tool", "assistant"]
    call = first["messages"][1]["tool_calls"][0]
    assert call["type"] == "function"
    assert call["function"] == {"name": "get_weather", "arguments": {"city": "Lisbon", "unit": "celsius"}}
    assert first["messages"][2]["content"] == '{"temperature": 21, "condition": "sunny"}'
    published = json.loads(json.loads((PUBLIC / "glaive_toolcall.json").read_text())[0]["tools"])
    assert first["tools"] == [{"type": "function", "function": published[0]}]
    two_calls = chat_row(rows[1])
    assert [m["role"] for m in two_calls["messages"]].count("tool") == 2
    assert [t["function"]["name"] for t in two_calls["tools"]] == ["convert_currency", "get_exchange_rate"]
    # the refusal row keeps the tool it refers to; a "[]" tools cell means no tools
    assert chat_row(rows[2])["tools"][0]["function"]["name"] == "convert_currency"
    assert chat_row(rows[3])["tools"] is None


def test_openai_tool_calls_results_and_names(sft_mixture) -> None:
    rows = _rows_of(load_mixture(sft_mixture), "openai")
    first = chat_row(rows[0])
    last = first["messages"][-1]
    assert last["role"] == "assistant" and last["content"] == ""
    assert last["tool_calls"] == [
        {
            "id": "call_id",
            "type": "function",
            "function": {
                "name": "get_current_weather",
                "arguments": {"location": "San Francisco, USA", "format": "celsius"},
            },
        }
    ]
    assert first["tools"][0]["function"]["name"] == "get_current_weather"
    second = chat_row(rows[1])
    assert second["messages"][2] == {
        "role": "tool",
        "content": '{"condition": "light rain", "temperature": 12}',
        "tool_call_id": "call_1",
    }
    third = chat_row(rows[2])
    assert third["messages"][1] == {"role": "user", "content": "Who wrote 'Romeo and Juliet'?", "name": "ada"}
    assert third["tools"] is None


def test_sharegpt_system_field_and_content_parts(sft_mixture) -> None:
    dd = load_mixture(sft_mixture)
    sharegpt = _rows_of(dd, "sharegpt")
    assert sharegpt[0]["messages"][0]["role"] == "system"
    assert sharegpt[0]["messages"][0]["content"] == "You are a concise Linux tutor."
    parts = [chat_row(r)["messages"] for r in _rows_of(dd, "parts")]
    assert parts[0][0] == {"role": "user", "content": "Translate to French: good morning"}
    assert parts[1][1] == {"role": "assistant", "content": "7 times 8 is 56."}


def test_llamafactory_preference_rows_kept(tmp_path, write_recipe, check_invariants) -> None:
    recipe = write_recipe(
        {"name": "lf-dpo", "kind": "preference", "sources": [{"path": str(PUBLIC / "llamafactory_dpo.json")}]}
    )
    out = build_mixture(recipe, out=tmp_path / "out")
    manifest = check_invariants(out)
    entry = manifest["sources"]["llamafactory_dpo"]
    assert (entry["rows_in"], entry["kept"], entry["formats"]) == (3, 3, {"preference_sharegpt": 3})
    rows = sorted(load_mixture(out)["train"], key=lambda r: int(r["id"].rsplit("/", 1)[1]))
    assert [m["role"] for m in rows[1]["prompt"]] == ["user", "assistant", "user"]
    assert rows[1]["chosen"] == [
        {
            "role": "assistant",
            "content": "503 means the service is unavailable, usually because the server is overloaded "
            "or down for maintenance.",
        }
    ]
    assert rows[2]["prompt"][0] == {"role": "system", "content": "Answer briefly."}
    assert rows[0]["rejected"][0]["content"].startswith("Use s.reverse()")


def _custom_roles(tmp_path: Path, write_jsonl) -> Path:
    rows = [
        {
            "dialog": [
                {"speaker": "customer", "text": "Where is my parcel 7781?"},
                {"speaker": "agent_call", "text": json.dumps({"name": "track", "arguments": {"id": "7781"}})},
                {"speaker": "api", "text": '{"status": "out for delivery"}'},
                {"speaker": "agent", "text": "Your parcel is out for delivery today."},
            ],
            "functions": json.dumps([{"name": "track", "parameters": {"type": "object"}}]),
        }
    ]
    return write_jsonl(tmp_path / "custom.jsonl", rows)


def test_role_map_maps_custom_role_names(tmp_path, write_recipe, write_jsonl, check_invariants) -> None:
    _custom_roles(tmp_path, write_jsonl)
    source = {
        "path": "custom.jsonl",
        "columns": {"conversations": "dialog", "tools": "functions"},
        "role_map": {"customer": "user", "agent": "assistant", "agent_call": "function_call", "api": "tool"},
    }
    # the ShareGPT reader takes `from`/`value` or `role`/`content`; map the custom keys first
    rows = [json.loads(line) for line in (tmp_path / "custom.jsonl").read_text().splitlines()]
    for row in rows:
        row["dialog"] = [{"from": t["speaker"], "value": t["text"]} for t in row["dialog"]]
    write_jsonl(tmp_path / "custom.jsonl", rows)
    out = build_mixture(write_recipe({"name": "c", "kind": "sft", "sources": [source]}), out=tmp_path / "out")
    check_invariants(out)
    row = chat_row(load_mixture(out)["train"][0])
    assert [m["role"] for m in row["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert row["messages"][1]["tool_calls"][0]["function"] == {"name": "track", "arguments": {"id": "7781"}}
    assert row["tools"] == [
        {"type": "function", "function": {"name": "track", "parameters": {"type": "object"}}}
    ]
    del source["role_map"]
    with pytest.raises(DataError, match=r"custom.jsonl:1: bad_role: .*'customer'.*role_map"):
        build_mixture(write_recipe({"name": "c", "kind": "sft", "sources": [source]}), out=tmp_path / "o2")


def test_plain_mixture_keeps_plain_schema(tmp_path, write_recipe, write_jsonl, make_qa) -> None:
    write_jsonl(tmp_path / "qa.jsonl", make_qa(4))
    out = build_mixture(
        write_recipe({"name": "p", "kind": "sft", "sources": [{"path": "qa.jsonl"}]}), out=tmp_path / "o"
    )
    manifest = read_manifest(out)
    assert manifest["tool_calling"] is False and manifest["columns"] == ["messages", "source", "id"]
    assert set(load_mixture(out)["train"][0]["messages"][0]) == {"role", "content"}


def test_a_tool_call_turn_is_not_an_empty_reply(tmp_path, write_recipe, check_invariants) -> None:
    recipe = {
        "name": "calls",
        "kind": "sft",
        "filters": {"length": {"drop_empty_assistant": True}},
        "sources": [{"path": str(PUBLIC / "openai_tools.jsonl")}],
    }
    manifest = check_invariants(build_mixture(write_recipe(recipe), out=tmp_path / "out"))
    assert manifest["sources"]["openai_tools"]["dropped"] == {}
