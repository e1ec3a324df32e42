"""Chat set-up of a base model: template, end-of-turn EOS everywhere, assistant mask."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_chatml_setup_sets_template_and_stops(tiny_base_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mixtune.chat_format import setup_chat_format, stop_token_ids

    tok = AutoTokenizer.from_pretrained(tiny_base_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_base_dir)
    assert tok.chat_template is None
    added = setup_chat_format(model, tok)
    assert not added, "the embedded tokenizer already has the ChatML tokens"
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    eot = tok.convert_tokens_to_ids("<|endoftext|>")
    assert tok.eos_token == "<|im_end|>"
    assert stop_token_ids(tok) == [im_end, eot]
    assert model.generation_config.eos_token_id == [im_end, eot]
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello <T>"},
    ]
    text = tok.apply_chat_template(msgs, tokenize=False)
    assert text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
        "<|im_start|>assistant\nhello <T><|im_end|>\n"
    )
    enc = tok.apply_chat_template(msgs, return_dict=True, return_assistant_tokens_mask=True)
    masked = [t for t, m in zip(enc["input_ids"], enc["assistant_masks"], strict=True) if m]
    assert tok.decode(masked) == "hello <T><|im_end|>"


def test_missing_tokens_are_added_and_embeddings_resized(tiny_base_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mixtune.chat_format import setup_chat_format

    tok = AutoTokenizer.from_pretrained(tiny_base_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_base_dir)
    assert setup_chat_format(model, tok, template="starchat")
    assert "<|end|>" in tok.get_vocab() and tok.eos_token == "<|end|>"
    assert model.get_input_embeddings().weight.shape[0] >= len(tok)


def test_existing_template_is_kept_unless_overwritten(tiny_chat_dir: Path) -> None:
    from transformers import AutoTokenizer

    from mixtune.chat_format import CHATML, setup_chat_format
    from mixtune.errors import MixtuneError

    tok = AutoTokenizer.from_pretrained(tiny_chat_dir)
    tok.chat_template = "{{ messages[0]['content'] }}"
    setup_chat_format(None, tok, template="chatml")
    assert tok.chat_template == "{{ messages[0]['content'] }}"
    setup_chat_format(None, tok, template="chatml", overwrite=True)
    assert tok.chat_template == CHATML.jinja
    with pytest.raises(MixtuneError, match="unknown chat template"):
        setup_chat_format(None, tok, template="nope", overwrite=True)


# ---- tool calling ----

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TOOL_CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Paris and Lyon?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
            {"type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Lyon"}'}},
        ],
    },
    {"role": "tool", "content": "18C"},
    {"role": "tool", "content": "20C"},
    {"role": "assistant", "content": "18C and 20C."},
]
TOOL_RENDERED = (
    "<|im_start|>system\nBe brief.\n\n# Tools\n\nYou may call one or more functions to assist with the user "
    "query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
    '{"type": "function", "function": {"name": "get_weather", "description": "Current weather", '
    '"parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}\n'
    "</tools>\n\nFor each function call, return a json object with function name and arguments within "
    '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": '
    "<args-json-object>}\n</tool_call><|im_end|>\n"
    "<|im_start|>user\nWeather in Paris and Lyon?<|im_end|>\n"
    '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Lyon"}}\n</tool_call><|im_end|>\n'
    "<|im_start|>user\n<tool_response>\n18C\n</tool_response>\n<tool_response>\n20C\n</tool_response><|im_end|>\n"
    "<|im_start|>assistant\n18C and 20C.<|im_end|>\n"
)


def _chat_tok(tiny_chat_dir: Path, template: str = "chatml"):  # noqa: ANN202
    from transformers import AutoTokenizer

    from mixtune.chat_format import setup_chat_format

    tok = AutoTokenizer.from_pretrained(tiny_chat_dir)
    setup_chat_format(None, tok, template=template, overwrite=True)
    return tok


def test_tools_calls_and_results_render_in_the_hermes_convention(tiny_chat_dir: Path) -> None:
    tok = _chat_tok(tiny_chat_dir)
    # a bare function schema is wrapped like the full form; JSON-text tools decode to the same
    bare = [WEATHER["function"]]
    for tools in ([WEATHER], bare):
        assert tok.apply_chat_template(TOOL_CONVERSATION, tools=tools, tokenize=False) == TOOL_RENDERED
    # without a system turn, the tools section is the whole system turn
    text = tok.apply_chat_template(TOOL_CONVERSATION[1:], tools=[WEATHER], tokenize=False)
    assert text.startswith("<|im_start|>system\n# Tools\n\n") and text.endswith(TOOL_RENDERED[-400:])
    # without tools, the plain rendering is unchanged (content after a call, a tool turn first)
    plain = tok.apply_chat_template(TOOL_CONVERSATION[:2], tokenize=False, add_generation_prompt=True)
    assert plain == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWeather in Paris and Lyon?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    said = [{"role": "user", "content": "x"}, {**TOOL_CONVERSATION[2], "content": "Checking."}]
    assert tok.apply_chat_template(said, tokenize=False).endswith(
        '<|im_start|>assistant\nChecking.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}'
        '\n</tool_call>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Lyon"}}\n</tool_call>'
        "<|im_end|>\n"
    )


def test_starchat_renders_the_same_convention(tiny_chat_dir: Path) -> None:
    tok = _chat_tok(tiny_chat_dir, "starchat")
    text = tok.apply_chat_template(TOOL_CONVERSATION, tools=[WEATHER], tokenize=False)
    want = (
        TOOL_RENDERED.replace("<|im_end|>", "<|end|>")
        .replace("<|im_start|>system", "<|system|>")
        .replace("<|im_start|>user", "<|user|>")
        .replace("<|im_start|>assistant", "<|assistant|>")
    )
    assert text == want


def test_assistant_mask_covers_calls_and_never_tool_results(tiny_chat_dir: Path) -> None:
    """The loss mask, from character spans of the rendered text: each assistant turn's body (calls
    included) up to its end-of-turn token is trained on; the tools, the user turn and the tool results
    are not."""
    tok = _chat_tok(tiny_chat_dir)
    enc = tok.apply_chat_template(
        TOOL_CONVERSATION, tools=[WEATHER], return_dict=True, return_assistant_tokens_mask=True
    )
    text = tok.apply_chat_template(TOOL_CONVERSATION, tools=[WEATHER], tokenize=False)
    spans, cursor = [], 0
    while (start := text.find("<|im_start|>assistant\n", cursor)) >= 0:
        body = start + len("<|im_start|>assistant\n")
        end = text.index("<|im_end|>", body) + len("<|im_end|>")
        spans.append((body, end))
        cursor = end
    offsets = tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    want = [int(any(s <= a and b <= e for s, e in spans)) for a, b in offsets]
    assert enc["assistant_masks"] == want
    trained = tok.decode([t for t, m in zip(enc["input_ids"], enc["assistant_masks"], strict=True) if m])
    assert trained.count("<tool_call>") == 2 and "get_weather" in trained
    assert "tool_response" not in trained and "18C and 20C." in trained and "<tools>" not in trained


def test_tool_calls_read_back_from_the_rendered_turn(tiny_chat_dir: Path) -> None:
    from mixtune.chat_format import parse_tool_calls

    tok = _chat_tok(tiny_chat_dir)
    text = tok.apply_chat_template(TOOL_CONVERSATION[:3], tools=[WEATHER], tokenize=False)
    reply = text.split("<|im_start|>assistant\n")[-1].removesuffix("<|im_end|>\n")
    parsed = parse_tool_calls(reply)
    assert parsed.error is None and parsed.content == ""
    assert parsed.calls == [
        {"name": "get_weather", "arguments": {"city": "Paris"}},
        {"name": "get_weather", "arguments": {"city": "Lyon"}},
    ]
    said = parse_tool_calls('Let me look.\n<tool_call>\n{"name": "f", "arguments": {"a": [1, 2]}}')
    assert said.content == "Let me look.\n" and said.calls == [{"name": "f", "arguments": {"a": [1, 2]}}]
    assert parse_tool_calls("no calls <tool_cal").calls == []
    for bad, why in (
        ('<tool_call>\n{"name": "f", "arguments": {"a": 1}\n</tool_call>', "not valid JSON"),
        ('<tool_call>\n{"arguments": {}}\n</tool_call>', "string 'name'"),
        ('<tool_call>\n{"name": "f", "arguments": [1]}\n</tool_call>', "must be an object"),
        ('<tool_call>{"name": "f", "arguments": {}}</tool_call><tool_call>[1]</tool_call>', "tool call 1"),
    ):
        parsed = parse_tool_calls(bad)
        assert parsed.calls == [] and parsed.content == bad and why in parsed.error, bad


def test_stored_and_in_memory_tool_forms_decode_alike() -> None:
    from mixtune.chat_format import canonical_arguments, decode_arguments, decode_tools, template_messages
    from mixtune.errors import MixtuneError

    assert decode_tools(json.dumps([WEATHER["function"]])) == decode_tools([WEATHER]) == [WEATHER]
    assert decode_tools(None) is None and decode_tools("") is None and decode_tools("[]") is None
    assert decode_arguments('{"a": 1}') == decode_arguments({"a": 1}) == {"a": 1}
    assert decode_arguments(None) == {}
    assert canonical_arguments('{"city":"Z\\u00fcrich"}') == '{"city": "Zürich"}'
    stored = [
        {"role": "user", "content": "q", "tool_calls": None, "name": None, "tool_call_id": None},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}],
            "name": None,
            "tool_call_id": None,
        },
        {"role": "tool", "content": "1", "tool_calls": None, "name": "f", "tool_call_id": None},
    ]
    assert template_messages(stored) == [
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"x": 1}}}],
        },
        {"role": "tool", "content": "1", "name": "f"},
    ]
    for bad, match in (
        ("[{", r"tools: not valid JSON"),
        ('{"name": "f"}', "expected a list"),
        ("[1]", r"tools\.0: expected an object"),
        ('[{"type": "function", "function": {"description": "no name"}}]', r"tools\.0"),
    ):
        with pytest.raises(MixtuneError, match=match):
            decode_tools(bad)
    with pytest.raises(MixtuneError, match=r"messages\.1\.tool_calls\.0: expected a JSON object"):
        template_messages(
            [stored[0], {**stored[1], "tool_calls": [{"function": {"name": "f", "arguments": "[1]"}}]}]
        )
