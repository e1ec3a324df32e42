"""Conversation operations behind the playground's buttons, and how a conversation is shown and exported.

A history is a list of turns {"role": "user"|"assistant", "content": str, ...}; assistant turns
also carry "model", "settings" and "finish_reason" so a rating or an export knows what made
them. The system prompt is not part of the history: it is read from its box on every reply.

Model output is Markdown, and code models write `<div>` and `List<T>` all the time. Outside
code blocks such text would be taken as HTML (swallowed, or worse, run), so `escape_markup`
turns tag starts into entities before display: the text shows verbatim and no model output is
ever HTML. Code blocks and inline code are left alone; the Markdown renderer escapes them.

A reply that calls tools (`<tool_call>` blocks, see mixtune.chat_format) shows each call as a
"Tool call" block: name and arguments as JSON in a code block, escaped by the renderer like any
code. A `tool` turn shows as a "Tool result" block. A finished reply that is empty or only
whitespace says so ("reply: 512 tokens, all whitespace") instead of showing an empty bubble.
A code block found in the model's training data (chat_ui/training_check.py stores the finding in
the turn's "training_data") is followed by a line saying where it was found.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any, NamedTuple

from chat_ui.backend import Message
from mixtune.errors import MixtuneError

Turn = dict[str, Any]

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n]*(?:\n|\Z).*?(?:^ {0,3}\1[`~]*[ \t]*$|\Z)", re.M | re.S)
_INLINE_CODE = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
_ESCAPED = re.compile(r"&(lt|amp);")


def _outside_code(text: str, fn: Any) -> str:
    """Apply fn to the parts of Markdown text that are not fenced code blocks or inline code."""
    out: list[str] = []
    pos = 0
    for fence in _FENCE.finditer(text):
        out.append(_outside_inline_code(text[pos : fence.start()], fn))
        out.append(fence.group(0))
        pos = fence.end()
    out.append(_outside_inline_code(text[pos:], fn))
    return "".join(out)


def _outside_inline_code(text: str, fn: Any) -> str:
    out: list[str] = []
    pos = 0
    for code in _INLINE_CODE.finditer(text):
        out.append(fn(text[pos : code.start()]))
        out.append(code.group(0))
        pos = code.end()
    out.append(fn(text[pos:]))
    return "".join(out)


class CodeBlock(NamedTuple):
    """A fenced code block of Markdown text: its place (character offsets of the whole fence),
    its info string's first word and the code between the fences."""

    start: int
    end: int
    lang: str
    code: str


def code_blocks(text: str) -> list[CodeBlock]:
    """The fenced code blocks of `text` in order, as the Chatbot renders them (an unclosed fence
    runs to the end, as in a reply still streaming)."""
    blocks = []
    for fence in _FENCE.finditer(text):
        opening, _, body = fence.group(0).partition("\n")
        marker = fence.group(1)
        info = opening.strip()[len(marker) :].strip()
        lines = body.split("\n")
        if lines and lines[-1].strip().startswith(marker):
            lines = lines[:-1]
        code = "\n".join(lines).rstrip("\n")
        blocks.append(CodeBlock(fence.start(), fence.end(), info.split()[0] if info else "", code))
    return blocks


def _name(value: Any) -> str:
    """A name from the data as inline code (backticks cannot end it early)."""
    return "`" + str(value).replace("`", "'") + "`"


def mark_line(mark: dict[str, Any]) -> str:
    """The line under a code block found in the training data."""
    return (
        f"> **found in training data**: mixture {_name(mark['mixture'])}, source {_name(mark['source'])}, "
        f"row {mark['row']} ({_name(mark['row_id'])}), {mark['similarity']:.2f} similar"
        " (the matching row is under *Found in training data*)"
    )


def with_marks(content: str, marks: list[dict[str, Any]]) -> str:
    """`content` with a mark line after each code block a mark names (by its block number)."""
    by_block: dict[int, dict[str, Any]] = {}
    for mark in marks:
        by_block.setdefault(int(mark["block"]), mark)
    out, pos = [], 0
    for i, block in enumerate(code_blocks(content)):
        if i in by_block:
            out += [content[pos : block.end].rstrip("\n"), "\n\n", mark_line(by_block[i]), "\n\n"]
            pos = block.end
    out.append(content[pos:])
    return "".join(out)


def escape_markup(text: str) -> str:
    """Markdown whose HTML-looking parts (outside code) display as the characters they are."""
    return _outside_code(text, lambda s: _TAG_START.sub("&lt;", _ENTITY.sub("&amp;", s)))


def unescape_markup(text: str) -> str:
    """The inverse of escape_markup, for text a user edited in the chat window."""
    return _outside_code(text, lambda s: _ESCAPED.sub(lambda m: "<" if m.group(1) == "lt" else "&", s))


def code_block(text: str, lang: str = "") -> str:
    """`text` as a fenced code block whose fence no run of backticks inside it can close."""
    runs = [len(r) for r in re.findall(r"`+", text)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def _tool_call_blocks(text: str) -> str | None:
    """A reply with well-formed `<tool_call>` blocks as Markdown (its text, then one block per
    call); None when it has none (a call still being streamed shows as text until it is whole)."""
    from mixtune.chat_format import parse_tool_calls

    parsed = parse_tool_calls(text)
    if not parsed.calls:
        return None
    parts = [escape_markup(parsed.content.rstrip())] if parsed.content.strip() else []
    for call in parsed.calls:
        body = json.dumps(
            {"name": call["name"], "arguments": call["arguments"]}, indent=2, ensure_ascii=False
        )
        parts.append("**Tool call**\n\n" + code_block(body, "json"))
    return "\n\n".join(parts)


def whitespace_note(turn: Turn) -> str | None:
    """For a finished reply with nothing visible in it: what it was, e.g. "reply: 512 tokens, all
    whitespace"; None otherwise (or while it is still streaming)."""
    content = turn.get("content") or ""
    if content.strip() or not turn.get("finish_reason") or turn.get("tool_calls"):
        return None
    tokens = turn.get("completion_tokens")
    count = (
        f"{tokens} token{'s' if tokens != 1 else ''}" if tokens is not None else f"{len(content)} characters"
    )
    if not content:
        return f"reply: {count}, empty"
    kinds = {"\n": "newlines", " ": "spaces", "\t": "tabs"}
    seen = ", ".join(f"{content.count(ch)} {name}" for ch, name in kinds.items() if ch in content)
    return f"reply: {count}, all whitespace ({seen or repr(content[:20])})"


def display_content(turn: Turn) -> str:
    """One turn's text as the Chatbot shows it: escaped, tool calls and results as blocks."""
    content = turn.get("content") or ""
    if turn.get("role") == "tool":
        name = turn.get("name")
        head = f"**Tool result** ({escape_markup(name)})" if name else "**Tool result**"
        return f"{head}\n\n{code_block(content)}"
    if turn.get("role") == "assistant":
        note = whitespace_note(turn)
        if note is not None:
            return f"*({note})*"
        blocks = _tool_call_blocks(content)
        if blocks is not None:
            return blocks
        if turn.get("training_data"):
            return escape_markup(with_marks(content, turn["training_data"]))
    return escape_markup(content)


def to_display(history: list[Turn]) -> list[dict[str, str]]:
    """What the Chatbot shows: one message per turn (indices match the history), escaped; tool
    results are shown on the user's side."""
    return [
        {"role": "assistant" if t["role"] == "assistant" else "user", "content": display_content(t)}
        for t in history
    ]


def to_messages(history: list[Turn], system_prompt: str = "") -> list[Message]:
    """The conversation as the model gets it: optional system prompt, then role/content turns."""
    messages: list[Message] = [{"role": "system", "content": system_prompt}] if system_prompt.strip() else []
    return messages + [{"role": t["role"], "content": t["content"]} for t in history]


def undo(history: list[Turn]) -> tuple[list[Turn], str]:
    """Remove the last exchange; returns the new history and the removed user text (to edit and resend)."""
    history = list(history)
    if history and history[-1]["role"] == "assistant":
        history.pop()
    user_text = history.pop()["content"] if history and history[-1]["role"] == "user" else ""
    return history, user_text


def drop_last_reply(history: list[Turn]) -> list[Turn]:
    """The history up to and including the last user turn (what a retry answers again)."""
    history = list(history)
    while history and history[-1]["role"] == "assistant":
        history.pop()
    if not history:
        raise MixtuneError("there is no message to retry yet")
    return history


def edit_user_turn(history: list[Turn], index: int, text: str) -> list[Turn]:
    """Replace user turn `index` with `text` and forget everything after it (it gets a new reply)."""
    if not 0 <= index < len(history):
        raise MixtuneError(f"there is no message {index} to edit (the conversation has {len(history)})")
    if history[index]["role"] != "user":
        raise MixtuneError("only your own messages can be edited")
    if not text.strip():
        raise MixtuneError("an edited message cannot be empty")
    return [*history[:index], {"role": "user", "content": text}]


def export_json(history: list[Turn], system_prompt: str, meta: dict[str, Any]) -> str:
    """The conversation as a canonical SFT row (messages, source, id) plus what produced each reply."""
    from mixtune.hashing import hash_obj

    messages = to_messages(history, system_prompt)
    row = {
        "messages": messages,
        "source": "mixtune-playground",
        "id": f"chat-{hash_obj(messages)[:16]}",
        "turns": history,
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **meta,
    }
    return json.dumps(row, indent=2, ensure_ascii=False) + "\n"


def export_markdown(history: list[Turn], system_prompt: str, meta: dict[str, Any]) -> str:
    """The conversation as a readable Markdown document."""
    lines = ["# Conversation", ""]
    for key, value in meta.items():
        lines.append(f"- {key}: {value}")
    lines.append(f"- exported: {datetime.now(timezone.utc).isoformat(timespec='seconds')}")
    lines.append("")
    if system_prompt.strip():
        lines += ["## System", "", system_prompt, ""]
    for turn in history:
        if turn["role"] == "user":
            lines += ["## User", "", turn["content"], ""]
        else:
            extra = []
            if turn.get("model"):
                extra.append(str(turn["model"]))
            seed = (turn.get("settings") or {}).get("seed")
            if seed is not None:
                extra.append(f"seed {seed}")
            suffix = f" ({', '.join(extra)})" if extra else ""
            lines += [f"## Assistant{suffix}", "", turn["content"], ""]
    return "\n".join(lines)
