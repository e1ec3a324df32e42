"""Row normalisation: every input format to canonical rows, and the role rules."""

from __future__ import annotations

import pytest

from mixtures.formats import RowError, detect_format, normalise_row

U = {"role": "user", "content": "Write add."}
A = {"role": "assistant", "content": "def add(a, b): return a + b"}


@pytest.mark.parametrize(
    ("row", "fmt", "expected"),
    [
        ({"messages": [U, A]}, "messages", [U, A]),
        (
            {
                "conversations": [
                    {"from": "system", "value": "S"},
                    {"from": "human", "value": "hi"},
                    {"from": "gpt", "value": "yo"},
                ]
            },
            "sharegpt",
            [
                {"role": "system", "content": "S"},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "yo"},
            ],
        ),
        (
            {"instruction": "Sum these", "input": "1 2", "output": "3"},
            "alpaca",
            [{"role": "user", "content": "Sum these\n\n1 2"}, {"role": "assistant", "content": "3"}],
        ),
        (
            {"instruction": "Sum", "input": "", "output": "3"},
            "alpaca",
            [{"role": "user", "content": "Sum"}, {"role": "assistant", "content": "3"}],
        ),
        (
            {"prompt": "p", "completion": "c"},
            "prompt_completion",
            [{"role": "user", "content": "p"}, {"role": "assistant", "content": "c"}],
        ),
        ({"prompt": [U], "completion": [A]}, "prompt_completion", [U, A]),
        (
            {"problem": "p", "solution": "s"},
            "problem_solution",
            [{"role": "user", "content": "p"}, {"role": "assistant", "content": "s"}],
        ),
        (
            {"instruction": "i", "response": "r"},
            "instruction_response",
            [{"role": "user", "content": "i"}, {"role": "assistant", "content": "r"}],
        ),
        (
            {"question": "q", "answer": "a"},
            "question_answer",
            [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
        ),
    ],
)
def test_sft_formats_detected_and_normalised(row: dict, fmt: str, expected: list[dict]) -> None:
    assert detect_format(row, "sft") == fmt
    assert normalise_row(row, "sft")["messages"] == expected


def test_openai_content_parts_and_extra_keys() -> None:
    row = {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                "name": "x",
            },
            A,
        ]
    }
    assert normalise_row(row, "sft")["messages"][0] == {"role": "user", "content": "ab", "name": "x"}


def test_preference_conversations_prompt_is_shared_prefix() -> None:
    sys_msg = {"role": "system", "content": "be brief"}
    row = {
        "prompt": "Write add.",
        "chosen": [sys_msg, U, A],
        "rejected": [sys_msg, U, {"role": "assistant", "content": "no"}],
    }
    assert detect_format(row, "preference") == "preference_conversations"
    out = normalise_row(row, "preference")
    assert out == {
        "prompt": [sys_msg, U],
        "chosen": [A],
        "rejected": [{"role": "assistant", "content": "no"}],
    }


def test_preference_multi_turn_prefix_ends_at_last_shared_user_turn() -> None:
    first = [U, A, {"role": "user", "content": "again"}]
    row = {
        "chosen": [*first, {"role": "assistant", "content": "good"}],
        "rejected": [*first, {"role": "assistant", "content": "bad"}],
    }
    out = normalise_row(row, "preference")
    assert out["prompt"] == first and out["chosen"][0]["content"] == "good"


def test_preference_explicit_prompt_format() -> None:
    row = {"prompt": [U], "chosen": [A], "rejected": [{"role": "assistant", "content": "no"}]}
    assert normalise_row(row, "preference") == {
        "prompt": [U],
        "chosen": [A],
        "rejected": [{"role": "assistant", "content": "no"}],
    }


def test_preference_strings_with_system() -> None:
    row = {"system": "S", "question": "Q", "chosen": "good", "rejected": "bad"}
    assert detect_format(row, "preference") == "preference_strings"
    assert normalise_row(row, "preference") == {
        "prompt": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}],
        "chosen": [{"role": "assistant", "content": "good"}],
        "rejected": [{"role": "assistant", "content": "bad"}],
    }


def test_column_mapping_and_system_prompt() -> None:
    row = {"query": "q", "reply": "r"}
    out = normalise_row(row, "sft", "auto", {"question": "query", "answer": "reply"}, system_prompt="S")
    assert out["messages"] == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "r"},
    ]
    kept = normalise_row(
        {"messages": [{"role": "system", "content": "mine"}, U, A]}, "sft", system_prompt="S"
    )
    assert kept["messages"][0]["content"] == "mine"
    replaced = normalise_row(
        {"messages": [{"role": "system", "content": "mine"}, U, A]},
        "sft",
        system_prompt="S",
        system_prompt_mode="replace",
    )
    assert replaced["messages"][0]["content"] == "S" and len(replaced["messages"]) == 3


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"text": "hello"}, "unknown_format"),
        ({"messages": [{"role": "bot", "content": "x"}, A]}, "bad_role"),
        ({"messages": [U, U, A]}, "bad_alternation"),
        ({"messages": [A, U]}, "bad_alternation"),
        ({"messages": [U, A, U]}, "bad_last_turn"),
        ({"messages": [U, {"role": "assistant", "content": "   "}]}, "empty_content"),
        ({"messages": []}, "empty_conversation"),
        ({"messages": [{"role": "system", "content": "s"}]}, "empty_conversation"),
        ({"messages": "not a list"}, "bad_type"),
        ({"messages": [U, {"role": "assistant", "content": None}]}, "empty_content"),
        ({"conversations": [{"from": "robot", "value": "x"}]}, "bad_role"),
        ({"instruction": "do", "output": ""}, "empty_content"),
        (["a", "list"], "not_an_object"),
    ],
)
def test_bad_sft_rows(row: object, reason: str) -> None:
    with pytest.raises(RowError) as exc:
        normalise_row(row, "sft")  # type: ignore[arg-type]
    assert exc.value.reason == reason


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"chosen": [U, A], "rejected": [{"role": "user", "content": "other"}, A]}, "no_shared_prompt"),
        ({"question": "q", "chosen": "", "rejected": "bad"}, "empty_content"),
        ({"prompt": [U], "chosen": [A, A], "rejected": [A]}, "bad_alternation"),
        ({"prompt": [U], "chosen": [U], "rejected": [A]}, "no_shared_prompt"),
        ({"messages": [U, A]}, "unknown_format"),
    ],
)
def test_bad_preference_rows(row: dict, reason: str) -> None:
    with pytest.raises(RowError) as exc:
        normalise_row(row, "preference")
    assert exc.value.reason == reason


CALL = {"type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}


@pytest.mark.parametrize(
    ("messages", "reason"),
    [
        ([U, {"role": "tool", "content": "42"}, A], "bad_alternation"),  # a result nobody asked for
        ([U, {"role": "assistant", "tool_calls": [CALL]}, U, A], "bad_alternation"),  # call never answered
        (
            [U, {"role": "assistant", "tool_calls": [CALL]}, {"role": "tool", "content": "1"}, U, A],
            "bad_alternation",
        ),
        (
            [U, {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{oops"}}]}],
            "bad_tool_call",
        ),
        ([U, {"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}]}], "bad_tool_call"),
        ([{"role": "user", "content": "hi", "tool_calls": [CALL]}, A], "bad_tool_call"),
        (
            [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "..."}}]}, A],
            "non_text_content",
        ),
    ],
)
def test_tool_turn_rules(messages: list, reason: str) -> None:
    with pytest.raises(RowError) as exc:
        normalise_row({"messages": messages}, "sft")
    assert exc.value.reason == reason


def test_tool_calls_then_results_then_answer() -> None:
    row = {
        "messages": [
            U,
            {"role": "assistant", "content": None, "tool_calls": [CALL, {**CALL, "id": "c2"}]},
            {"role": "tool", "content": "1", "tool_call_id": "c1"},
            {"role": "tool", "content": "2", "tool_call_id": "c2"},
            {"role": "assistant", "tool_calls": [{"function": {"name": "g", "arguments": {"y": [1, 2]}}}]},
            {"role": "tool", "content": "3"},
            A,
        ],
        "tools": '[{"name": "f"}, {"type": "function", "function": {"name": "g"}}]',
    }
    out = normalise_row(row, "sft")
    assert [m["role"] for m in out["messages"]] == [
        "user",
        "assistant",
        "tool",
        "tool",
        "assistant",
        "tool",
        "assistant",
    ]
    assert out["messages"][4]["tool_calls"][0]["function"]["arguments"] == '{"y": [1, 2]}'
    assert out["tools"] == [
        {"type": "function", "function": {"name": "f"}},
        {"type": "function", "function": {"name": "g"}},
    ]


def test_preference_rows_with_tool_turns_are_rejected_by_name() -> None:
    row = {"prompt": [U], "chosen": [{"role": "assistant", "tool_calls": [CALL]}], "rejected": [A]}
    with pytest.raises(RowError) as exc:
        normalise_row(row, "preference")
    assert exc.value.reason == "tool_turn_in_preference"


def test_llamafactory_preference_shape_detected() -> None:
    row = {
        "conversations": [{"from": "human", "value": "q"}],
        "chosen": {"from": "gpt", "value": "good"},
        "rejected": {"from": "gpt", "value": "bad"},
    }
    assert detect_format(row, "preference") == "preference_sharegpt"
    assert detect_format({**row, "messages": row.pop("conversations")}, "preference") == "preference_sharegpt"
