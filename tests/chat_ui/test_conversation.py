"""Conversation operations, display escaping, context trimming and export (no server)."""

from __future__ import annotations

import json

import pytest

from chat_ui.backend import GenerationSettings, trim_to_context
from chat_ui.conversation import (
    drop_last_reply,
    edit_user_turn,
    escape_markup,
    export_json,
    export_markdown,
    to_display,
    to_messages,
    undo,
    unescape_markup,
)
from mixtune.errors import MixtuneError

HISTORY = [
    {"role": "user", "content": "first"},
    {"role": "assistant", "content": "one", "model": "m", "settings": {"seed": 3}},
    {"role": "user", "content": "second"},
    {"role": "assistant", "content": "two", "model": "m", "settings": {"seed": 4}},
]


@pytest.mark.parametrize(
    "text",
    [
        "A <div> holds blocks; List<T> is generic; x < 3 && y > 2; &amp; stays literal",
        "```html\n<div><img src=x onerror=alert(1)></div>\n```\nafter <b>bold?</b>",
        "inline `<script>` and ``a ` <b> `` and <script>alert(1)</script>",
        "```python\nunclosed <T> block while streaming",
        "~~~\n<x>\n~~~\n<y>",
    ],
)
def test_escape_roundtrips_and_leaves_no_tag_outside_code(text: str) -> None:
    escaped = escape_markup(text)
    assert unescape_markup(escaped) == text
    outside = escaped
    for code in ("```html\n<div><img src=x onerror=alert(1)></div>\n```", "`<script>`", "``a ` <b> ``"):
        outside = outside.replace(code, "")
    if "```python" not in text and "~~~" not in text:
        assert "<d" not in outside and "<s" not in outside and "<b" not in outside and "<i" not in outside


def test_escape_keeps_code_verbatim() -> None:
    text = "```java\nList<T> xs = new ArrayList<>();\n```"
    assert escape_markup(text) == text
    assert escape_markup("use `Map<K, V>` here") == "use `Map<K, V>` here"
    assert escape_markup("a <div> b") == "a &lt;div> b"


def test_display_matches_history_indices() -> None:
    shown = to_display(HISTORY)
    assert [m["role"] for m in shown] == ["user", "assistant", "user", "assistant"]
    assert set(shown[1]) == {"role", "content"}


def test_to_messages_adds_system_prompt_only_when_set() -> None:
    assert to_messages(HISTORY, "  ")[0] == {"role": "user", "content": "first"}
    msgs = to_messages(HISTORY, "be brief")
    assert msgs[0] == {"role": "system", "content": "be brief"}
    assert all(set(m) == {"role", "content"} for m in msgs)


def test_undo_retry_edit() -> None:
    history, text = undo(HISTORY)
    assert text == "second" and history == HISTORY[:2]
    assert drop_last_reply(HISTORY) == HISTORY[:3]
    edited = edit_user_turn(HISTORY, 0, "changed")
    assert edited == [{"role": "user", "content": "changed"}]
    with pytest.raises(MixtuneError, match="only your own messages"):
        edit_user_turn(HISTORY, 1, "x")
    with pytest.raises(MixtuneError, match="no message 9"):
        edit_user_turn(HISTORY, 9, "x")
    with pytest.raises(MixtuneError, match="nothing|no message"):
        drop_last_reply([])


class CountingBackend:
    """One token per character of content: makes trimming arithmetic exact."""

    context_limit = 100

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        return sum(len(m["content"]) for m in messages)


def test_trim_drops_oldest_exchanges_and_keeps_system() -> None:
    messages = [{"role": "system", "content": "s" * 10}]
    for i in range(5):
        messages += [{"role": "user", "content": f"{i}" * 10}, {"role": "assistant", "content": f"{i}" * 10}]
    messages.append({"role": "user", "content": "q" * 10})
    result = trim_to_context(CountingBackend(), messages, max_new_tokens=40)
    assert result.prompt_tokens + 40 <= 100
    assert result.messages[0]["role"] == "system" and result.messages[-1]["content"] == "q" * 10
    assert result.dropped_turns == 3  # 120 -> 60 tokens
    assert result.messages[1]["content"] == "3" * 10


def test_trim_explains_when_even_the_last_message_does_not_fit() -> None:
    with pytest.raises(MixtuneError, match="context window is 100"):
        trim_to_context(CountingBackend(), [{"role": "user", "content": "x" * 90}], max_new_tokens=20)


def test_settings_validation() -> None:
    with pytest.raises(MixtuneError, match="top_p"):
        GenerationSettings(top_p=0).validate()
    fixed = GenerationSettings(seed=None).with_seed()
    assert isinstance(fixed.seed, int)


def test_exports_are_readable() -> None:
    row = json.loads(export_json(HISTORY, "sys", {"model": "m"}))
    assert row["messages"][0] == {"role": "system", "content": "sys"}
    assert row["messages"][-1] == {"role": "assistant", "content": "two"}
    assert row["turns"][1]["settings"]["seed"] == 3 and row["id"].startswith("chat-")
    md = export_markdown(HISTORY, "sys", {"model": "m"})
    assert "## System" in md and "## Assistant (m, seed 4)" in md and md.index("first") < md.index("second")


def test_tool_calls_and_results_show_as_escaped_blocks() -> None:
    from chat_ui.conversation import display_content

    reply = (
        "Let me check <b>that</b>.\n<tool_call>\n"
        '{"name": "run", "arguments": {"code": "<script>alert(1)</script> ```", "n": 2}}\n</tool_call>'
    )
    shown = to_display([{"role": "user", "content": "q"}, {"role": "assistant", "content": reply}])[1][
        "content"
    ]
    head, rest = shown.split("**Tool call**\n\n", 1)
    assert head == "Let me check &lt;b>that&lt;/b>.\n\n"
    fence = "````"  # longer than the ``` inside the arguments, so they cannot close the block
    assert rest.startswith(fence + "json\n") and rest.endswith("\n" + fence)
    body = json.loads(rest[len(fence) + 5 : -len(fence) - 1])
    assert body == {"name": "run", "arguments": {"code": "<script>alert(1)</script> ```", "n": 2}}
    # a call still streaming (or malformed) shows as escaped text, not half a block
    partial = '<tool_call>\n{"name": "run", "argu'
    assert display_content({"role": "assistant", "content": partial}) == escape_markup(partial)
    # a tool result, on the user's side, as a code block
    result = to_display([{"role": "tool", "name": "run<x>", "content": "<img src=x onerror=1>"}])[0]
    assert result == {
        "role": "user",
        "content": "**Tool result** (run&lt;x>)\n\n```\n<img src=x onerror=1>\n```",
    }


def test_a_whitespace_only_reply_says_so_instead_of_an_empty_bubble() -> None:
    from chat_ui.conversation import whitespace_note

    turn = {
        "role": "assistant",
        "content": "\n" * 510 + "  ",
        "finish_reason": "length",
        "completion_tokens": 512,
    }
    assert whitespace_note(turn) == "reply: 512 tokens, all whitespace (510 newlines, 2 spaces)"
    assert (
        to_display([turn])[0]["content"] == "*(reply: 512 tokens, all whitespace (510 newlines, 2 spaces))*"
    )
    empty = {"role": "assistant", "content": "", "finish_reason": "stop", "completion_tokens": 1}
    assert to_display([empty])[0]["content"] == "*(reply: 1 token, empty)*"
    # while streaming, or with visible text, nothing is added
    assert whitespace_note({"role": "assistant", "content": "\n\n"}) is None
    assert whitespace_note({**turn, "content": "\n x"}) is None


def test_code_blocks_are_the_fences_the_chat_renders_and_marks_go_under_them() -> None:
    from chat_ui.conversation import code_blocks, with_marks

    text = "Two ways:\n\n```python\ndef f():\n    return 1\n```\n\nor\n\n~~~\nx = `y`\n~~~\n\n````md\n```\ninner\n```\n````\n\n```js\nlet a"
    blocks = code_blocks(text)
    assert [(b.lang, b.code) for b in blocks] == [
        ("python", "def f():\n    return 1"),
        ("", "x = `y`"),
        ("md", "```\ninner\n```"),
        ("js", "let a"),  # still streaming: the fence runs to the end
    ]
    assert all(text[b.start : b.end].lstrip().startswith(("```", "~~~")) for b in blocks)
    mark = {"block": 1, "mixture": "m`x", "source": "s", "row": 3, "row_id": "s/3", "similarity": 0.918}
    marked = with_marks(text, [mark])
    assert (
        "~~~\n\n> **found in training data**: mixture `m'x`, source `s`, row 3 (`s/3`), 0.92 similar"
        in marked
    )
    assert marked.count("found in training data") == 1
    assert with_marks(text, []) == text
