"""SFT on tool-calling rows: tool calls are trained on, tool results never are, and the overfit
embedded model calls the right function with the right arguments for a training prompt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.sft.tool_rows import TOOL_ROWS, TOOLS

# memorises the three rows with the 157k-parameter test model
TOOL_OVERFIT = {
    "learning_rate": 3.0e-3,
    "lr_scheduler_type": "constant",
    "num_train_epochs": 80,
    "per_device_train_batch_size": 3,
    "logging_steps": 10,
    "save_strategy": "no",
    "bf16": False,
    "seed": 0,
    "batching": "grouped",  # one example per row, whatever `auto` would pick on this machine
}


def _recipe(root: Path, base: Path, **keys: Any) -> Path:
    data = root / "tools.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in TOOL_ROWS), encoding="utf-8")
    recipe = root / "tools.yaml"
    body = {
        "model_name_or_path": str(base),
        "dataset_mixture": {"datasets": [{"id": str(data)}]},
        "output_dir": str(root / "out"),
        **keys,
    }
    recipe.write_text(yaml.safe_dump(body), encoding="utf-8")
    return recipe


@pytest.fixture(scope="module")
def tool_model(tiny_base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sft.recipe import load_sft_recipe
    from sft.train import train_sft

    return train_sft(
        load_sft_recipe(_recipe(tmp_path_factory.mktemp("tool-sft"), tiny_base_dir, **TOOL_OVERFIT))
    )


def test_prepared_rows_train_on_calls_never_on_tool_results(tiny_base_dir: Path, tmp_path: Path) -> None:
    from sft.recipe import load_sft_recipe
    from sft.train import prepare_sft

    run = prepare_sft(
        load_sft_recipe(_recipe(tmp_path, tiny_base_dir, max_steps=1, bf16=False, batching="grouped"))
    )
    rows = list(run.trainer.train_dataset)
    assert len(rows) == len(TOOL_ROWS)
    tok = run.tokenizer
    for row in rows:
        text = tok.decode(row["input_ids"])
        trained = tok.decode(
            [t for t, lab in zip(row["input_ids"], row["labels"], strict=True) if lab != -100]
        )
        assert "<tools>" in text and "null" not in text, "tools missing or arguments merged across rows"
        if "<tool_response>" in text:
            assert "<tool_call>" in trained and "tool_response" not in trained
            assert not any(r in trained for r in ("sunny 21C", "9.2<"))
            assert "get_weather" in trained or "convert" in trained
        assert "<tools>" not in trained and "Weather in" not in trained
    paris = next(tok.decode(r["input_ids"]) for r in rows if "Paris" in tok.decode(r["input_ids"]))
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' in paris


def test_a_built_mixture_of_tool_rows_trains_exactly_like_the_raw_file(
    tiny_base_dir: Path, tmp_path: Path
) -> None:
    """The mixture builder stores tools and arguments as JSON text; SFT decodes them into the same
    token ids and labels as the user's file with JSON objects."""
    from sft.recipe import load_sft_recipe
    from sft.train import prepare_sft

    (tmp_path / "raw").mkdir()
    raw = prepare_sft(
        load_sft_recipe(_recipe(tmp_path / "raw", tiny_base_dir, max_steps=1, bf16=False, batching="grouped"))
    )
    mix = tmp_path / "mix"
    mix.mkdir()
    (mix / "tools.jsonl").write_text("".join(json.dumps(r) + "\n" for r in TOOL_ROWS), encoding="utf-8")
    (mix / "tools-mix.yaml").write_text(
        "name: tools-mix\nkind: sft\nseed: 1\nsources:\n  - name: tools\n    path: tools.jsonl\n",
        encoding="utf-8",
    )
    recipe = tmp_path / "built.yaml"
    body = {
        "model_name_or_path": str(tiny_base_dir),
        "mixture": str(mix / "tools-mix.yaml"),
        "output_dir": str(tmp_path / "out"),
        "max_steps": 1,
        "bf16": False,
        "batching": "grouped",
    }
    recipe.write_text(yaml.safe_dump(body), encoding="utf-8")
    built = prepare_sft(load_sft_recipe(recipe))
    assert built.data.train.features["tools"].dtype == "string"

    def prepared(run: Any) -> list[tuple[list[int], list[int]]]:
        return sorted((r["input_ids"], r["labels"]) for r in run.trainer.train_dataset)

    assert prepared(built) == prepared(raw) and len(prepared(raw)) == len(TOOL_ROWS)


def greedy_reply(
    loaded: tuple[Any, Any], messages: list[dict[str, Any]], tools: Any, max_new_tokens: int = 64
) -> str:
    """Greedy reply text (special tokens dropped) of a loaded (tokenizer, model)."""
    import torch

    tok, model = loaded
    enc = tok.apply_chat_template(
        messages, tools=tools, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
    return tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)


def test_overfit_model_emits_a_parseable_tool_call(tool_model: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mixtune.chat_format import parse_tool_calls, template_messages

    loaded = (AutoTokenizer.from_pretrained(tool_model), AutoModelForCausalLM.from_pretrained(tool_model))
    for row in TOOL_ROWS:
        messages = template_messages(row["messages"])
        text = greedy_reply(loaded, messages[:1], TOOLS)
        parsed = parse_tool_calls(text)
        assert parsed.error is None, text
        if len(messages) > 2:  # a calling row: the call it was trained on, arguments and all
            assert parsed.calls == [messages[1]["tool_calls"][0]["function"]], text
            # and after the tool result, the final answer
            assert greedy_reply(loaded, messages[:3], TOOLS) == messages[3]["content"]
        else:
            assert parsed.calls == [] and text == messages[1]["content"]


@pytest.fixture(scope="module")
def tool_server(tool_model: Path) -> Any:
    """The trained model behind `mixtune serve`'s OpenAI-compatible app, on loopback (uvicorn thread)."""
    import socket
    import threading
    import time

    import httpx
    import uvicorn

    from chat_ui.openai_server import create_app
    from chat_ui.transformers_backend import TransformersBackend

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app({"tools-model": TransformersBackend(tool_model, name="tools-model")})
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.1)
    yield f"{base}/v1"
    server.should_exit = True
    thread.join(timeout=10)


def test_served_model_returns_tool_calls_through_the_openai_client(tool_server: str) -> None:
    """End to end: trained on tool rows -> `mixtune serve` -> `openai` client gets `tool_calls`."""
    from openai import OpenAI

    client = OpenAI(base_url=tool_server, api_key="none")
    question = [TOOL_ROWS[0]["messages"][0]]
    out = client.chat.completions.create(
        model="tools-model", messages=question, tools=TOOLS, temperature=0, max_tokens=64
    )
    choice = out.choices[0]
    assert choice.finish_reason == "tool_calls", choice.message.content
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert call.id.startswith("call_") and not choice.message.content

    # streamed: the same call, assembled from deltas
    name, arguments, finish = "", "", None
    stream = client.chat.completions.create(
        model="tools-model", messages=question, tools=TOOLS, temperature=0, max_tokens=64, stream=True
    )
    for chunk in stream:
        delta = chunk.choices[0].delta
        assert not (delta.content or "").strip(), delta.content
        for d in delta.tool_calls or []:
            name += d.function.name or ""
            arguments += d.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert (name, json.loads(arguments), finish) == ("get_weather", {"city": "Paris"}, "tool_calls")

    # the tool's result sent back (OpenAI shape: arguments as JSON text) -> the trained final answer
    followup = [
        *question,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump(exclude_none=True)]},
        {"role": "tool", "tool_call_id": call.id, "content": TOOL_ROWS[0]["messages"][2]["content"]},
    ]
    final = client.chat.completions.create(
        model="tools-model", messages=followup, tools=TOOLS, temperature=0, max_tokens=32
    ).choices[0]
    assert final.finish_reason == "stop" and final.message.content == TOOL_ROWS[0]["messages"][3]["content"]


def test_plain_and_tool_sources_mix_and_bad_calls_name_their_line(
    tmp_path: Path, conversations: list[dict[str, Any]]
) -> None:
    from mixtune.errors import DataError
    from mixtune.training.data import load_handbook_mixture
    from mixtune.training.recipe import DatasetMixture

    plain, tools = tmp_path / "plain.jsonl", tmp_path / "tools.jsonl"
    plain.write_text("".join(json.dumps(r) + "\n" for r in conversations), encoding="utf-8")
    tools.write_text("".join(json.dumps(r) + "\n" for r in TOOL_ROWS), encoding="utf-8")
    mixture = DatasetMixture(datasets=[{"id": str(plain)}, {"id": str(tools)}])
    train = load_handbook_mixture(mixture, None, "sft", "sft", "mix.yaml").train
    rows = {r["id"]: r for r in train}
    assert len(rows) == len(conversations) + len(TOOL_ROWS)
    assert rows["rev"]["tools"] is None and rows["rev"]["messages"][0]["tool_calls"] is None
    call = rows["paris"]["messages"][1]["tool_calls"][0]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert json.loads(rows["usd"]["tools"]) == TOOLS
    assert (
        rows["usd"]["messages"][1]["tool_calls"][0]["function"]["arguments"] == '{"amount": 10, "to": "EUR"}'
    )

    # a JSON array file too: each row keeps exactly its own argument names
    array = tmp_path / "tools.json"
    array.write_text(json.dumps(TOOL_ROWS), encoding="utf-8")
    from_array = load_handbook_mixture(
        DatasetMixture(datasets=[{"id": str(array)}]), None, "sft", "sft", "m"
    ).train
    assert sorted(
        r["messages"][1]["tool_calls"][0]["function"]["arguments"]
        for r in from_array
        if len(r["messages"]) > 2
    ) == [
        '{"amount": 10, "to": "EUR"}',
        '{"city": "Paris"}',
    ]

    bad = json.loads(json.dumps(TOOL_ROWS[0]))
    bad["messages"][1]["tool_calls"][0]["function"]["arguments"] = "[1, 2]"
    tools.write_text(json.dumps(TOOL_ROWS[1]) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"{tools}:2: messages\.1\.tool_calls\.0: expected a JSON object"):
        load_handbook_mixture(mixture, None, "sft", "sft", "mix.yaml")


# a template in the style of many model repos: arguments always through `tojson` (quoted twice
# when they arrive as the stored JSON text)
TOJSON_TEMPLATE = (
    "{%- for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}"
    "{%- for tc in m.tool_calls or [] %}<tool_call>\n"
    '{"name": "{{ tc.function.name }}", "arguments": {{ tc.function.arguments | tojson }}}\n</tool_call>'
    "{%- endfor %}<|im_end|>\n{%- endfor %}"
)


def test_a_template_that_misrenders_stored_calls_is_refused(tiny_base_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from mixtune.chat_format import CHATML, STARCHAT, tool_template_problem
    from mixtune.errors import MixtuneError
    from sft.recipe import load_sft_recipe
    from sft.train import prepare_sft

    tok = AutoTokenizer.from_pretrained(tiny_base_dir)
    for template in (CHATML, STARCHAT):
        tok.chat_template = template.jinja
        assert tool_template_problem(tok) is None
    tok.chat_template = TOJSON_TEMPLATE
    assert "renders arguments given as JSON text differently" in tool_template_problem(tok)
    tok.chat_template = (
        "{%- for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{%- endfor %}"
    )
    assert "does not render tools, tool calls and tool results" in tool_template_problem(tok)
    recipe = _recipe(tmp_path, tiny_base_dir, max_steps=1, bf16=False, chat_template=TOJSON_TEMPLATE)
    with pytest.raises(
        MixtuneError, match="the data has tool calls, but the chat template renders arguments"
    ):
        prepare_sft(load_sft_recipe(recipe))
