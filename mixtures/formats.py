"""Normalise one row of any supported input format into a canonical row.

Canonical SFT row: {"messages": [{"role", "content"}, ...], "tools": [...] | None} with an
optional system turn first, then user/assistant alternating, ending with the assistant; an
assistant turn may carry `tool_calls` (arguments kept as JSON text so Arrow holds any
schema), answered by one or more `tool` turns before the assistant speaks again. Canonical preference
row: {"prompt": [...], "chosen": [...], "rejected": [...]} (TRL's explicit-prompt
conversational format). A row that fits no format or breaks the role rules raises
`RowError` with a short machine reason and a human detail; the builder decides whether
that is fatal or a counted reject.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from typing import Any

Message = dict[str, Any]

# Speaker names -> canonical roles. "function_call" (a call made by the assistant) and
# "observation" (its result) are the glaive / LLaMA-Factory function-calling turns.
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "model": "assistant",
    "system": "system",
    "function_call": "function_call",
    "observation": "tool",
    "tool": "tool",
    "function": "tool",
}
CHAT_ROLES = ("system", "user", "assistant", "tool")
MESSAGE_ROLES = {**{r: r for r in CHAT_ROLES}, "function": "tool"}  # OpenAI's legacy result role
NON_TEXT_PARTS = ("image", "image_url", "input_image", "audio", "input_audio", "video", "file")
MEDIA_COLUMNS = ("images", "videos", "audios", "image", "audio", "video")


class RowError(Exception):
    """A row that cannot become a canonical row: `reason` is a stable key counted in the manifest."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _part_text(part: dict[str, Any], where: str) -> str:
    kind = part.get("type", "text")
    if kind in NON_TEXT_PARTS or (kind != "text" and any(k in part for k in NON_TEXT_PARTS)):
        raise RowError("non_text_content", f"{where} is a '{kind}' part; only text parts can be trained on")
    if kind != "text":
        raise RowError("bad_content", f"{where} has part type {kind!r}; expected 'text'")
    for key in ("text", "value", "content"):
        if isinstance(part.get(key), str):
            return part[key]
    raise RowError("bad_content", f"{where}: a text part needs its text under 'text' or 'value'")


def _text(value: Any, field: str) -> str:
    """Message content as text: a string, or content parts of type text (text under `text` or
    `value`); an image/audio part is a reject that says so."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(p, dict) for p in value):
        return "".join(_part_text(part, f"{field}[{i}]") for i, part in enumerate(value))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # CSV and spreadsheet exports turn answers like "42" into numbers
    if value is None:
        raise RowError("empty_content", f"{field} is missing")
    raise RowError("bad_type", f"{field} should be text, got {type(value).__name__}")


def _json_object_text(value: Any, where: str) -> str:
    """Tool-call arguments as the JSON text of an object (OpenAI sends text, transformers a dict)."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except (json.JSONDecodeError, RecursionError):
            raise RowError("bad_tool_call", f"{where} is not valid JSON") from None
    if not isinstance(value, dict):
        raise RowError("bad_tool_call", f"{where} should be an object, got {type(value).__name__}")
    return json.dumps(value, ensure_ascii=False)


def _tool_call(call: Any, where: str) -> dict[str, Any]:
    """One call in the canonical shape; accepts OpenAI's `{"type", "function": {...}, "id"}` and
    the bare `{"name", "arguments"}` of ShareGPT function_call turns and legacy `function_call`."""
    if isinstance(call, dict) and isinstance(call.get("function"), dict):
        fn, call_id = call["function"], call.get("id")
    elif isinstance(call, dict):
        fn, call_id = call, call.get("id")
    else:
        raise RowError("bad_tool_call", f"{where} should be an object, got {type(call).__name__}")
    name = fn.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RowError("bad_tool_call", f"{where} has no function name")
    args = fn.get("arguments", fn.get("parameters", {}))
    return {
        "id": None if call_id is None else str(call_id),
        "type": "function",
        "function": {"name": name, "arguments": _json_object_text(args, f"{where}.arguments")},
    }


def _tool_calls(value: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            raise RowError("bad_tool_call", f"{where} is not valid JSON") from None
    calls = value if isinstance(value, list) else [value]
    return [_tool_call(c, f"{where}[{i}]" if isinstance(value, list) else where) for i, c in enumerate(calls)]


def parse_tools(value: Any, where: str = "tools") -> list[dict[str, Any]] | None:
    """A row's tool list (JSON text or a list) in `apply_chat_template(tools=)` shape:
    `{"type": "function", "function": {...}}`; bare function schemas are wrapped."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            value = json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            raise RowError("bad_tools", f"'{where}' is not valid JSON") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise RowError("bad_tools", f"'{where}' should be a list of functions, got {type(value).__name__}")
    out = []
    for i, tool in enumerate(value):
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict):
            fn = tool["function"]
            entry = {**tool, "type": tool.get("type", "function")}
        elif isinstance(tool, dict):
            fn, entry = tool, {"type": "function", "function": tool}
        else:
            raise RowError("bad_tools", f"{where}[{i}] should be an object, got {type(tool).__name__}")
        if not isinstance(fn.get("name"), str) or not fn["name"].strip():
            raise RowError("bad_tools", f"{where}[{i}] has no function name")
        out.append(entry)
    return out or None


def _role(raw: Any, where: str, role_map: dict[str, str] | None, known: dict[str, str]) -> str:
    """The canonical role of a speaker name: the source's `role_map` first, then the known names."""
    if role_map and raw in role_map:
        return role_map[raw]
    role = known.get(str(raw).lower()) if isinstance(raw, str) else None
    if role is None:
        expected = sorted(set(known) | set(role_map or {}))
        raise RowError(
            "bad_role", f"{where} has role {raw!r}; expected one of {expected} (or map it with role_map)"
        )
    return role


def _message(role: str, content: str, **extra: Any) -> Message:
    msg: Message = {"role": role, "content": content}
    for key, value in extra.items():
        if value is not None:
            msg[key] = value
    return msg


def _append_call(out: list[Message], calls: list[dict[str, Any]]) -> None:
    """A function_call turn right after an assistant text turn joins it (one assistant message)."""
    if out and out[-1]["role"] == "assistant" and not out[-1].get("tool_calls"):
        out[-1]["tool_calls"] = calls
    else:
        out.append(_message("assistant", "", tool_calls=calls))


def _maybe_json_list(value: Any) -> Any:
    """CSV cells hold lists as JSON text; accept that."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _message_list(
    value: Any,
    field: str,
    role_key: str = "role",
    content_key: str = "content",
    role_map: dict[str, str] | None = None,
) -> list[Message]:
    """OpenAI-style messages: `tool_calls` (arguments as JSON text or a dict), legacy
    `function_call`, `tool`/`function` results with `tool_call_id`/`name`, `name` on any turn."""
    value = _maybe_json_list(value)
    if not isinstance(value, list):
        raise RowError("bad_type", f"'{field}' should be a list of messages, got {type(value).__name__}")
    known = MESSAGE_ROLES
    out: list[Message] = []
    for i, msg in enumerate(value):
        where = f"{field}[{i}]"
        if not isinstance(msg, dict):
            raise RowError("bad_type", f"{where} should be an object, got {type(msg).__name__}")
        role = _role(msg.get(role_key), where, role_map, known)
        raw_calls = msg.get("tool_calls") or msg.get("function_call")
        if role == "function_call":
            _append_call(out, _tool_calls(msg.get(content_key), f"{where}.{content_key}"))
            continue
        calls = _tool_calls(raw_calls, f"{where}.tool_calls") if raw_calls else None
        if calls and role != "assistant":
            raise RowError("bad_tool_call", f"{where}: only assistant turns make tool calls, not '{role}'")
        content = msg.get(content_key)
        text = "" if content is None and calls else _text(content, f"{where}.{content_key}")
        name = msg.get("name")
        call_id = msg.get("tool_call_id")
        out.append(
            _message(
                role,
                text,
                tool_calls=calls,
                name=None if name is None else str(name),
                tool_call_id=None if call_id is None else str(call_id),
            )
        )
    return out


def _sharegpt_list(value: Any, field: str, role_map: dict[str, str] | None = None) -> list[Message]:
    """ShareGPT turns (`from`/`value`, or `role`/`content`), including `function_call` turns
    (value: JSON `{"name", "arguments"}` or a list of them) and `observation` results."""
    value = _maybe_json_list(value)
    if not isinstance(value, list):
        raise RowError("bad_type", f"'{field}' should be a list of turns, got {type(value).__name__}")
    out: list[Message] = []
    for i, turn in enumerate(value):
        where = f"{field}[{i}]"
        if not isinstance(turn, dict):
            raise RowError("bad_type", f"{where} should be an object, got {type(turn).__name__}")
        role = _role(turn.get("from", turn.get("role")), where, role_map, SHAREGPT_ROLES)
        content = turn.get("value", turn.get("content"))
        if role == "function_call":
            _append_call(out, _tool_calls(content, f"{where}.value"))
            continue
        name = turn.get("name")
        out.append(_message(role, _text(content, f"{where}.value"), name=None if name is None else str(name)))
    return out


def check_conversation(
    messages: list[Message],
    field: str = "messages",
    end: str = "assistant",
    first: str = "user",
    allow_empty_assistant: bool = False,
) -> None:
    """Optional system first (when the turns start with the user), then user/assistant
    alternating from `first`, ending with `end`; an assistant turn with tool calls is followed
    by one or more tool turns, then the assistant again. No empty content, except an assistant
    turn that only calls tools (or any assistant turn when a length filter is to judge it)."""
    if not messages:
        raise RowError("empty_conversation", f"'{field}' has no turns")
    for i, msg in enumerate(messages):
        if msg["content"].strip() or msg.get("tool_calls"):
            continue
        if msg["role"] == "assistant" and allow_empty_assistant:
            continue
        raise RowError("empty_content", f"{field}[{i}] ({msg['role']}) is empty")
    start = 1 if messages[0]["role"] == "system" and first == "user" else 0
    if start == 1 and len(messages) == 1:
        raise RowError("empty_conversation", f"'{field}' has only a system turn")
    expected: tuple[str, ...] = (first,)
    for i, msg in enumerate(messages[start:], start):
        if msg["role"] not in expected:
            if msg["role"] == "tool":
                detail = f"{field}[{i}] is a tool result with no assistant tool call before it"
            else:
                detail = f"{field}[{i}] is '{msg['role']}' where '{' or '.join(expected)}' should come"
            raise RowError("bad_alternation", detail)
        if msg["role"] == "user":
            expected = ("assistant",)
        elif msg["role"] == "assistant":
            expected = ("tool",) if msg.get("tool_calls") else ("user",)
        elif msg["role"] == "tool":
            expected = ("tool", "assistant")
        else:
            expected = ()
    if messages[-1]["role"] != end:
        raise RowError(
            "bad_last_turn", f"the last turn of '{field}' is '{messages[-1]['role']}', not '{end}'"
        )


def _with_system(messages: list[Message], system: Any) -> list[Message]:
    if system is None or (isinstance(system, str) and not system.strip()):
        return messages
    text = _text(system, "system")
    if messages and messages[0]["role"] == "system":
        return messages
    return [{"role": "system", "content": text}, *messages]


def _pair(row: dict[str, Any], user_key: str, assistant_key: str) -> list[Message]:
    for key in (user_key, assistant_key):
        if key not in row or row[key] is None:
            raise RowError("missing_field", f"'{key}' is missing")
    user = _text(row[user_key], user_key)
    assistant = _text(row[assistant_key], assistant_key)
    return _with_system(
        [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}], row.get("system")
    )


RoleMap = dict[str, str] | None


def sft_messages(row: dict[str, Any], role_map: RoleMap = None) -> list[Message]:
    return _with_system(_message_list(row["messages"], "messages", role_map=role_map), row.get("system"))


def sft_sharegpt(row: dict[str, Any], role_map: RoleMap = None) -> list[Message]:
    return _with_system(_sharegpt_list(row["conversations"], "conversations", role_map), row.get("system"))


def sft_alpaca(row: dict[str, Any], role_map: RoleMap = None) -> list[Message]:
    for key in ("instruction", "output"):
        if row.get(key) is None:
            raise RowError("missing_field", f"'{key}' is missing")
    instruction = _text(row["instruction"], "instruction")
    extra = row.get("input")
    if isinstance(extra, str) and extra.strip():
        instruction = f"{instruction.rstrip()}\n\n{extra.strip()}"
    messages = [
        {"role": "user", "content": instruction},
        {"role": "assistant", "content": _text(row["output"], "output")},
    ]
    return _with_system(messages, row.get("system"))


def sft_prompt_completion(row: dict[str, Any], role_map: RoleMap = None) -> list[Message]:
    prompt, completion = _maybe_json_list(row.get("prompt")), _maybe_json_list(row.get("completion"))
    if isinstance(prompt, list) or isinstance(completion, list):
        messages = _message_list(prompt, "prompt", role_map=role_map) + _message_list(
            completion, "completion", role_map=role_map
        )
        return _with_system(messages, row.get("system"))
    return _pair(row, "prompt", "completion")


def sft_problem_solution(row: dict[str, Any], role_map: RoleMap = None) -> list[Message]:
    return _pair(row, "problem", "solution")


def sft_instruction_response(row: dict[str, Any], role_map: RoleMap = None) -> list[Message]:
    return _pair(row, "instruction", "response")


def sft_question_answer(row: dict[str, Any], role_map: RoleMap = None) -> list[Message]:
    return _pair(row, "question", "answer")


def _split_shared_prefix(
    chosen: list[Message], rejected: list[Message]
) -> tuple[list[Message], list[Message], list[Message]]:
    n = 0
    while n < min(len(chosen), len(rejected)) and chosen[n] == rejected[n]:
        n += 1
    # The prompt ends at the last user turn of the shared prefix.
    while n > 0 and chosen[n - 1]["role"] != "user":
        n -= 1
    if n == 0:
        raise RowError("no_shared_prompt", "'chosen' and 'rejected' share no prompt ending in a user turn")
    return chosen[:n], chosen[n:], rejected[n:]


def pref_conversations(row: dict[str, Any], role_map: RoleMap = None) -> dict[str, list[Message]]:
    chosen = _message_list(row.get("chosen"), "chosen", role_map=role_map)
    rejected = _message_list(row.get("rejected"), "rejected", role_map=role_map)
    prompt_value = _maybe_json_list(row.get("prompt"))
    if isinstance(prompt_value, list):
        # TRL explicit-prompt format: chosen/rejected are the completions only.
        prompt = _message_list(prompt_value, "prompt", role_map=role_map)
        if chosen and chosen[0]["role"] == "user":
            prompt, chosen, rejected = _split_shared_prefix(chosen, rejected)
    else:
        prompt, chosen, rejected = _split_shared_prefix(chosen, rejected)
    return {"prompt": _with_system(prompt, row.get("system")), "chosen": chosen, "rejected": rejected}


def _one_reply(value: Any, field: str, role_map: RoleMap) -> list[Message]:
    """LLaMA-Factory's ranking rows give each reply as one `{from, value}` (or `{role, content}`) object."""
    value = _maybe_json_list(value)
    if isinstance(value, str) and value.lstrip().startswith("{"):
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(value)
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, str):
        return [{"role": "assistant", "content": value}]
    return _sharegpt_list(value, field, role_map)


def pref_sharegpt(row: dict[str, Any], role_map: RoleMap = None) -> dict[str, list[Message]]:
    """LLaMA-Factory ShareGPT preference rows: the prompt turns in `conversations` (or
    `messages`), `chosen` / `rejected` a single reply object each."""
    key = "conversations" if row.get("conversations") is not None else "messages"
    if row.get(key) is None:
        raise RowError("missing_field", "'conversations' is missing")
    prompt = _sharegpt_list(row[key], key, role_map)
    for k in ("chosen", "rejected"):
        if row.get(k) is None:
            raise RowError("missing_field", f"'{k}' is missing")
    return {
        "prompt": _with_system(prompt, row.get("system")),
        "chosen": _one_reply(row["chosen"], "chosen", role_map),
        "rejected": _one_reply(row["rejected"], "rejected", role_map),
    }


def pref_strings(row: dict[str, Any], role_map: RoleMap = None) -> dict[str, list[Message]]:
    key = "question" if row.get("question") is not None else "prompt"
    for k in (key, "chosen", "rejected"):
        if row.get(k) is None:
            raise RowError("missing_field", f"'{k}' is missing")
    prompt = _with_system([{"role": "user", "content": _text(row[key], key)}], row.get("system"))
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": _text(row["chosen"], "chosen")}],
        "rejected": [{"role": "assistant", "content": _text(row["rejected"], "rejected")}],
    }


SFT_PARSERS: dict[str, Callable[..., list[Message]]] = {
    "messages": sft_messages,
    "sharegpt": sft_sharegpt,
    "alpaca": sft_alpaca,
    "prompt_completion": sft_prompt_completion,
    "problem_solution": sft_problem_solution,
    "instruction_response": sft_instruction_response,
    "question_answer": sft_question_answer,
}
PREFERENCE_PARSERS: dict[str, Callable[..., dict[str, list[Message]]]] = {
    "preference_conversations": pref_conversations,
    "preference_sharegpt": pref_sharegpt,
    "preference_strings": pref_strings,
}


def _present(row: dict[str, Any], *keys: str) -> bool:
    return all(row.get(k) is not None for k in keys)


def _is_single_turn(value: Any) -> bool:
    return isinstance(value, dict) and ("from" in value or "role" in value)


def detect_format(row: dict[str, Any], kind: str) -> str:
    """The format a row's keys point to, for `kind` ('sft' or 'preference')."""
    if kind == "preference":
        if _present(row, "chosen", "rejected"):
            chosen = _maybe_json_list(row["chosen"])
            if _present(row, "conversations") or (_is_single_turn(chosen) and _present(row, "messages")):
                return "preference_sharegpt"
            return "preference_conversations" if isinstance(chosen, list) else "preference_strings"
    else:
        for fmt, keys in (
            ("messages", ("messages",)),
            ("sharegpt", ("conversations",)),
            ("alpaca", ("instruction", "output")),
            ("instruction_response", ("instruction", "response")),
            ("problem_solution", ("problem", "solution")),
            ("prompt_completion", ("prompt", "completion")),
            ("question_answer", ("question", "answer")),
        ):
            if _present(row, *keys):
                return fmt
    keys = sorted(k for k, v in row.items() if v is not None)
    raise RowError("unknown_format", f"no {kind} format fits a row with keys {keys}")


def apply_system_prompt(messages: list[Message], system_prompt: str | None, mode: str) -> list[Message]:
    """Insert a source's system prompt when the row has none (or replace the row's, if asked)."""
    if not system_prompt:
        return messages
    has_system = bool(messages) and messages[0]["role"] == "system"
    if has_system and mode != "replace":
        return messages
    rest = messages[1:] if has_system else messages
    return [{"role": "system", "content": system_prompt}, *rest]


def remap_columns(row: Any, columns: dict[str, str] | None) -> dict[str, Any]:
    """Rename a source's own column names to the field names the formats read."""
    if not isinstance(row, dict):
        raise RowError("not_an_object", f"a row must be a JSON object, got {type(row).__name__}")
    if not columns:
        return row
    row = dict(row)
    for target, column in columns.items():
        if column in row:
            row[target] = row.pop(column)
    return row


PLACEHOLDER = re.compile(r"\{\{\s*([^{}\n]{1,64}?)\s*\}\}")


def fill_placeholders(result: dict[str, Any], replace: dict[str, str] | None) -> list[str]:
    """Fill `{{name}}` placeholders from a source's `replace` mapping (in place); returns the
    names of the placeholders still left in the row's turns."""
    left: list[str] = []

    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if replace and key in replace:
            return replace[key]
        left.append(key)
        return match.group(0)

    for column in ("messages", "prompt", "chosen", "rejected"):
        for msg in result.get(column) or []:
            if "{{" in msg["content"]:
                msg["content"] = PLACEHOLDER.sub(sub, msg["content"])
    return left


def _no_tools_in_preference(pair: dict[str, list[Message]]) -> None:
    for side, messages in pair.items():
        for i, msg in enumerate(messages):
            if msg["role"] == "tool" or msg.get("tool_calls"):
                raise RowError(
                    "tool_turn_in_preference",
                    f"{side}[{i}]: preference rows hold text turns only; put tool-calling data in an sft mixture",
                )


REQUIRED_FIELDS = {
    "messages": ("messages",),
    "sharegpt": ("conversations",),
    "alpaca": ("instruction", "output"),
    "prompt_completion": ("prompt", "completion"),
    "problem_solution": ("problem", "solution"),
    "instruction_response": ("instruction", "response"),
    "question_answer": ("question", "answer"),
    "preference_conversations": ("chosen", "rejected"),
    "preference_sharegpt": ("chosen", "rejected"),
    "preference_strings": ("chosen", "rejected"),
}


FORMAT_FIELDS = {
    "messages": ("messages", "system", "tools"),
    "sharegpt": ("conversations", "system", "tools"),
    "alpaca": ("instruction", "input", "output", "system"),
    "prompt_completion": ("prompt", "completion", "system"),
    "problem_solution": ("problem", "solution", "system"),
    "instruction_response": ("instruction", "response", "system"),
    "question_answer": ("question", "answer", "system"),
    "preference_conversations": ("prompt", "chosen", "rejected", "system"),
    "preference_sharegpt": ("conversations", "messages", "chosen", "rejected", "system"),
    "preference_strings": ("question", "prompt", "chosen", "rejected", "system"),
}
TURN_FIELDS = frozenset({"messages", "conversations", "prompt", "completion", "chosen", "rejected"})
TURN_KEYS = frozenset(
    {"role", "content", "from", "value", "tool_calls", "function_call", "name", "tool_call_id"}
)


def ignored_fields(row: dict[str, Any], fmt: str) -> list[str]:
    """What a row carries that its canonical row does not keep: columns the format does not
    read, and keys on turns (`messages[].weight`) — counted per source so nothing goes unseen."""
    used = FORMAT_FIELDS.get(fmt, ())
    out = [key for key, value in row.items() if value is not None and key not in used]
    for key in used:
        if key not in TURN_FIELDS:
            continue
        value = _maybe_json_list(row.get(key))
        turns = [value] if isinstance(value, dict) else value if isinstance(value, list) else []
        suffix = "" if isinstance(value, dict) else "[]"
        for turn in turns:
            if isinstance(turn, dict) and turn.keys() - TURN_KEYS:
                out += [f"{key}{suffix}.{k}" for k, v in turn.items() if v is not None and k not in TURN_KEYS]
    return sorted(set(out))


def check_declared_format(row: dict[str, Any], fmt: str) -> None:
    """A row read with a declared format must have that format's fields (a folder or file of
    something else otherwise fails deep inside a parser)."""
    missing = [k for k in REQUIRED_FIELDS.get(fmt, ()) if row.get(k) is None]
    if missing:
        keys = sorted(k for k, v in row.items() if v is not None)
        raise RowError(
            "missing_field",
            f"{missing} missing for the declared format '{fmt}'; the row has keys {keys} "
            "(map them with columns:, or leave format to be detected)",
        )


def normalise_row(
    row: dict[str, Any],
    kind: str,
    fmt: str = "auto",
    columns: dict[str, str] | None = None,
    system_prompt: str | None = None,
    system_prompt_mode: str = "if_missing",
    role_map: dict[str, str] | None = None,
    allow_empty_assistant: bool = False,
) -> dict[str, Any]:
    """One input row (any supported format) -> canonical columns, or RowError."""
    row = remap_columns(row, columns)
    for key in MEDIA_COLUMNS:
        if row.get(key):
            raise RowError(
                "non_text_content",
                f"the row has '{key}' (images, audio or video); only text can be trained on",
            )
    if fmt == "auto":
        fmt = detect_format(row, kind)
    else:
        check_declared_format(row, fmt)
    if kind == "sft":
        messages = apply_system_prompt(SFT_PARSERS[fmt](row, role_map), system_prompt, system_prompt_mode)
        check_conversation(messages, allow_empty_assistant=allow_empty_assistant)
        return {"messages": messages, "tools": parse_tools(row.get("tools"))}
    pair = PREFERENCE_PARSERS[fmt](row, role_map)
    _no_tools_in_preference(pair)
    pair["prompt"] = apply_system_prompt(pair["prompt"], system_prompt, system_prompt_mode)
    check_conversation(pair["prompt"], "prompt", end="user")
    for side in ("chosen", "rejected"):
        check_conversation(
            pair[side], side, end="assistant", first="assistant", allow_empty_assistant=allow_empty_assistant
        )
    return pair
