"""Chat templates for turning a base code model into a chat model.

A base model has no chat template and no end-of-turn token. `setup_chat_format` adds both
(ChatML by default, as StarChat2 used), resizes the embeddings when tokens were added, and
points every EOS (tokenizer, model config, generation config) at the end-of-turn token so
that generation stops at the end of the assistant's turn in transformers and in vLLM alike.

The templates mark assistant content with `{% generation %}` so TRL can compute an
assistant-only loss mask (`return_assistant_tokens_mask`).

Tool calling uses one convention everywhere (the Hermes / Qwen2.5 one, which vLLM's `hermes`
tool parser and `parse_tool_calls` below read back): see `_jinja`. `decode_tools`,
`decode_arguments` and `template_messages` accept the stored form (JSON text, as Arrow keeps it)
and the in-memory form (dicts) alike.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from mixtune.errors import MixtuneError


@dataclass(frozen=True)
class ChatTemplate:
    name: str
    jinja: str
    end_of_turn: str
    special_tokens: tuple[str, ...]


TOOLS_PREAMBLE = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
)
TOOLS_INSTRUCTION = (
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments "
    "within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
)


def _jinja(open_role: str, close_role: str, end: str) -> str:
    """One template for both dialects: `open_role + role + close_role` starts a turn, `end` ends it.

    Tool calling follows the Hermes / Qwen2.5 convention (what vLLM's `hermes` tool parser reads):
    - `tools` go into the system turn (after the system prompt, if any) as one JSON object per
      line inside `<tools></tools>`, each wrapped as {"type": "function", "function": ...};
    - an assistant turn's `tool_calls` follow its content, one
      `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>` block each, inside the
      `{% generation %}` span, so they are trained on; `arguments` may be a dict or its JSON text;
    - consecutive `tool` messages form one user turn of
      `<tool_response>\n...\n</tool_response>` blocks, outside the span, so they never are.
    Without tools, the rendering is exactly the plain one.
    """

    def turn(role: str) -> str:
        return f"'{open_role}' + {role} + '{close_role}\n'"

    own_turn = turn("message['role']")
    return (
        "{%- set msgs = messages %}"
        "{%- if tools %}"
        f"{{{{- {turn(repr('system'))} }}}}"
        "{%- if messages and messages[0]['role'] == 'system' %}"
        "{%- if messages[0]['content'] %}{{- messages[0]['content'] + '\n\n' }}{%- endif %}"
        "{%- set msgs = messages[1:] %}"
        "{%- endif %}"
        f"{{{{- {TOOLS_PREAMBLE!r} }}}}"
        "{%- for tool in tools %}{{- '\n' }}"
        "{%- if tool['function'] is defined %}{{- tool | tojson }}"
        "{%- else %}{{- {'type': 'function', 'function': tool} | tojson }}{%- endif %}"
        "{%- endfor %}"
        f"{{{{- {TOOLS_INSTRUCTION!r} + '{end}\n' }}}}"
        "{%- endif %}"
        "{%- for message in msgs %}"
        "{%- if message['role'] == 'assistant' %}"
        f"{{{{- {own_turn} }}}}"
        "{%- generation %}"
        "{{- message['content'] or '' }}"
        "{%- if message['tool_calls'] %}{%- for call in message['tool_calls'] %}"
        "{%- set fn = call['function'] if call['function'] is defined else call %}"
        "{%- if message['content'] or not loop.first %}{{- '\n' }}{%- endif %}"
        "{{- '<tool_call>\n{\"name\": ' + (fn['name'] | tojson) + ', \"arguments\": ' }}"
        "{%- if fn['arguments'] is string %}{{- fn['arguments'] }}"
        "{%- elif fn['arguments'] is none or fn['arguments'] is not defined %}{{- '{}' }}"
        "{%- else %}{{- fn['arguments'] | tojson }}{%- endif %}"
        "{{- '}\n</tool_call>' }}"
        "{%- endfor %}{%- endif %}"
        f"{{{{- '{end}' }}}}"
        "{%- endgeneration %}{{- '\n' }}"
        "{%- elif message['role'] == 'tool' %}"
        "{%- if loop.first or msgs[loop.index0 - 1]['role'] != 'tool' %}"
        f"{{{{- {turn(repr('user'))} }}}}"
        "{%- else %}{{- '\n' }}{%- endif %}"
        "{{- '<tool_response>\n' + (message['content'] or '') + '\n</tool_response>' }}"
        f"{{%- if loop.last or msgs[loop.index0 + 1]['role'] != 'tool' %}}{{{{- '{end}\n' }}}}{{%- endif %}}"
        "{%- else %}"
        f"{{{{- {own_turn} + (message['content'] or '') + '{end}\n' }}}}"
        "{%- endif %}"
        "{%- endfor %}"
        f"{{%- if add_generation_prompt %}}{{{{- {turn(repr('assistant'))} }}}}{{%- endif %}}"
    )


CHATML = ChatTemplate(
    name="chatml",
    jinja=_jinja("<|im_start|>", "", "<|im_end|>"),
    end_of_turn="<|im_end|>",
    special_tokens=("<|im_start|>", "<|im_end|>"),
)

# The original StarChat (alpha/beta) dialogue format.
STARCHAT = ChatTemplate(
    name="starchat",
    jinja=_jinja("<|", "|>", "<|end|>"),
    end_of_turn="<|end|>",
    special_tokens=("<|system|>", "<|user|>", "<|assistant|>", "<|end|>"),
)

TEMPLATES: dict[str, ChatTemplate] = {t.name: t for t in (CHATML, STARCHAT)}


def get_template(name: str) -> ChatTemplate:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise MixtuneError(
            f"unknown chat template '{name}'; choose one of {sorted(TEMPLATES)} or 'tokenizer'"
        ) from None


def end_of_turn_token(tokenizer: Any) -> str | None:
    """The token that ends an assistant turn under this tokenizer's template, if known."""
    template = tokenizer.chat_template or ""
    for t in TEMPLATES.values():
        if t.end_of_turn in template:
            return t.end_of_turn
    return tokenizer.eos_token


def stop_token_ids(tokenizer: Any) -> list[int]:
    """Every token id at which chat generation must stop (end of turn, then end of text)."""
    ids: list[int] = []
    for tok in (end_of_turn_token(tokenizer), "<|endoftext|>", tokenizer.eos_token):
        if tok is None:
            continue
        if tok not in tokenizer.get_vocab():
            continue
        tid = tokenizer.convert_tokens_to_ids(tok)
        if tid not in ids:
            ids.append(tid)
    return ids


def setup_chat_format(model: Any, tokenizer: Any, template: str = "chatml", overwrite: bool = False) -> bool:
    """Give a (base) model and tokenizer a chat template and a stopping end-of-turn token.

    template: a name from TEMPLATES, or "tokenizer" to keep the tokenizer's own template
    (an error if it has none). An existing template is kept unless `overwrite`.
    Returns True when tokens were added (embeddings resized).
    """
    if template == "tokenizer" or (tokenizer.chat_template and not overwrite):
        if not tokenizer.chat_template:
            raise MixtuneError(
                "chat_template 'tokenizer' was asked for, but the tokenizer has no chat template"
            )
        added = 0
    else:
        spec = get_template(template)
        vocab = tokenizer.get_vocab()
        missing = [t for t in spec.special_tokens if t not in vocab]
        added = tokenizer.add_special_tokens({"additional_special_tokens": missing}) if missing else 0
        tokenizer.chat_template = spec.jinja
    if tokenizer.pad_token is None:
        tokenizer.pad_token = (
            "<|endoftext|>" if "<|endoftext|>" in tokenizer.get_vocab() else tokenizer.eos_token
        )
    eot = end_of_turn_token(tokenizer)
    if eot is not None:
        tokenizer.eos_token = eot
    if model is not None:
        if added or len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
            model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=8)
        stops = stop_token_ids(tokenizer)
        model.config.eos_token_id = stops[0]
        model.config.pad_token_id = tokenizer.pad_token_id
        if model.generation_config is not None:
            model.generation_config.eos_token_id = stops
            model.generation_config.pad_token_id = tokenizer.pad_token_id
    return bool(added)


# ---- tool calling: inputs to the template, and tool calls read back from generated text ----

TOOL_CALL_TAG = "<tool_call>"
TOOL_CALL_RE = re.compile(r"<tool_call>(.*?)</tool_call>|<tool_call>(.*)\Z", re.S)


def _json_value(value: Any, where: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise MixtuneError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    return value


def decode_tools(tools: Any, where: str = "tools") -> list[dict[str, Any]] | None:
    """A function list (JSON text or list) as `apply_chat_template(tools=)` takes it, each entry
    wrapped as {"type": "function", "function": {...}}; None when there are none."""
    if tools is None or tools == "":
        return None
    tools = _json_value(tools, where)
    if not isinstance(tools, list):
        raise MixtuneError(f"{where}: expected a list of functions, got {type(tools).__name__}")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise MixtuneError(f"{where}.{i}: expected an object, got {type(tool).__name__}")
        fn = tool.get("function", tool) if tool.get("type", "function") == "function" else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise MixtuneError(f"{where}.{i}: expected {{'type': 'function', 'function': {{'name': ...}}}}")
        out.append({"type": "function", "function": fn})
    return out or None


def decode_arguments(arguments: Any, where: str = "arguments") -> dict[str, Any]:
    """A tool call's arguments (JSON text or dict) as a dict; missing arguments are {}."""
    if arguments is None or arguments == "":
        return {}
    value = _json_value(arguments, where)
    if not isinstance(value, dict):
        raise MixtuneError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def canonical_arguments(arguments: Any, where: str = "arguments") -> str:
    """Arguments as the JSON text the template renders for a dict (so stored text and dicts train alike)."""
    return json.dumps(decode_arguments(arguments, where), ensure_ascii=False)


def template_messages(messages: list[dict[str, Any]], where: str = "messages") -> list[dict[str, Any]]:
    """Messages as any chat template takes them: null keys dropped, tool calls as
    {"type": "function", "function": {"name", "arguments": dict}} (plus their id, when given)."""
    out = []
    for i, message in enumerate(messages):
        m = {k: v for k, v in message.items() if v is not None}
        calls = m.get("tool_calls")
        if calls:
            decoded = []
            for j, call in enumerate(calls):
                at = f"{where}.{i}.tool_calls.{j}"
                fn = call.get("function", call) if isinstance(call, dict) else None
                if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
                    raise MixtuneError(f"{at}: expected {{'type': 'function', 'function': {{'name': ...}}}}")
                entry: dict[str, Any] = {
                    "type": "function",
                    "function": {"name": fn["name"], "arguments": decode_arguments(fn.get("arguments"), at)},
                }
                if call.get("id"):
                    entry["id"] = call["id"]
                decoded.append(entry)
            m["tool_calls"] = decoded
        elif "tool_calls" in m:
            del m["tool_calls"]
        out.append(m)
    return out


@dataclass
class ParsedReply:
    """Generated text split into its plain content and the tool calls it makes."""

    content: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None  # why text with <tool_call> was kept as plain content


def parse_tool_calls(text: str) -> ParsedReply:
    """Read `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` blocks back, as vLLM's `hermes`
    parser does: the content is the text before the first block; an unterminated last block is read
    to the end. Any block that is not a JSON object with a string `name` and object `arguments` keeps
    the whole reply as plain content (nothing is half-parsed), with the reason in `error`."""
    if "<tool_call>" not in text:
        return ParsedReply(text)
    calls = []
    for n, match in enumerate(TOOL_CALL_RE.finditer(text)):
        body = match.group(1) if match.group(1) is not None else match.group(2)
        try:
            call = json.loads(body)
        except json.JSONDecodeError as exc:
            return ParsedReply(text, error=f"tool call {n}: not valid JSON ({exc.msg})")
        if not isinstance(call, dict) or not isinstance(call.get("name"), str) or not call["name"]:
            return ParsedReply(text, error=f"tool call {n}: expected an object with a string 'name'")
        arguments = call.get("arguments", call.get("parameters", {}))
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            return ParsedReply(text, error=f"tool call {n}: 'arguments' must be an object")
        calls.append({"name": call["name"], "arguments": arguments})
    return ParsedReply(text[: text.index("<tool_call>")], calls)


def tool_template_problem(tokenizer: Any) -> str | None:
    """Why this tokenizer's chat template cannot train on stored tool-calling rows, or None.

    Stored rows keep `arguments` as JSON text (Arrow needs one schema). This module's templates
    render that text exactly as the object; a template of the model's own may not render tool
    calls at all, or may quote the text a second time (`arguments | tojson`), which would teach
    the model a different format from the one it is served with."""
    tools = [{"type": "function", "function": {"name": "probe_fn", "parameters": {"type": "object"}}}]

    def render(arguments: Any) -> str:
        call = {"type": "function", "function": {"name": "probe_fn", "arguments": arguments}}
        messages = [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "content": "probe result"},
            {"role": "assistant", "content": "a"},
        ]
        return tokenizer.apply_chat_template(messages, tools=tools, tokenize=False)

    try:
        as_object, as_text = render({"probe_arg": 1}), render('{"probe_arg": 1}')
    except Exception as exc:  # a template's raise_exception, or one that cannot take these fields
        return f"the chat template cannot render a tool-calling conversation ({type(exc).__name__}: {exc})"
    if "probe_fn" not in as_object or "probe_arg" not in as_object or "probe result" not in as_object:
        return "the chat template does not render tools, tool calls and tool results"
    if as_object != as_text:
        return "the chat template renders arguments given as JSON text differently from the same object"
    return None
