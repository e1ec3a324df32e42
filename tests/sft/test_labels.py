"""Assistant-only loss: in the trainer's prepared rows, every token outside an assistant turn's content
(+ its <|im_end|>) has label -100, and every token inside one is trained on."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def expected_labels(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[list[int], list[int]]:
    """Token ids of the rendered conversation and the labels an assistant-only mask must give them,
    computed from character offsets of the rendered text (independently of TRL's masking)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans, cursor = [], 0
    for m in messages:
        header = f"<|im_start|>{m['role']}\n"
        start = text.index(header, cursor) + len(header)
        end = start + len(m["content"]) + len("<|im_end|>")
        assert text[start:end] == m["content"] + "<|im_end|>"
        if m["role"] == "assistant":
            spans.append((start, end))
        cursor = end
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    labels = []
    for tid, (a, b) in zip(enc["input_ids"], enc["offset_mapping"], strict=True):
        inside = any(s <= a and b <= e for s, e in spans)
        labels.append(tid if inside else -100)
    return enc["input_ids"], labels


def _one_step(
    write_recipe: Callable[..., Path], model: Path, data: Path, tmp_path: Path, **keys: Any
) -> Path:
    """A one-step CPU recipe on `data`, one example per row (`auto` batching may pack them)."""
    return write_recipe(
        model_name_or_path=str(model),
        dataset_mixture={"datasets": [{"id": str(data)}]},
        output_dir=str(tmp_path / "out"),
        max_steps=1,
        bf16=False,
        batching="grouped",
        **keys,
    )


def test_labels_mask_everything_but_assistant_turns_and_cut_rows_are_counted(
    tiny_base_dir: Path,
    write_recipe: Callable[..., Path],
    tmp_path: Path,
    conversations: list[dict[str, Any]],
) -> None:
    from mixtune.chat_format import setup_chat_format
    from mixtune.training.model import load_tokenizer
    from sft.recipe import load_sft_recipe
    from sft.train import prepare_sft

    # beside the conversations: a long answer (cut to max_length, kept) and a prompt longer than
    # max_length (no trained token left: dropped); both counted in the run's data stats
    long_answer = {
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "w " * 200}]
    }
    long_prompt = {
        "messages": [{"role": "user", "content": "w " * 400}, {"role": "assistant", "content": "ok"}]
    }
    tokenizer = load_tokenizer(str(tiny_base_dir))
    setup_chat_format(None, tokenizer, "chatml", overwrite=False)
    limit = max(len(expected_labels(tokenizer, c["messages"])[0]) for c in conversations) + 4
    ids, labels = expected_labels(tokenizer, long_answer["messages"])
    assert len(ids) > limit and len(expected_labels(tokenizer, long_prompt["messages"])[0]) > limit
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in [*conversations, long_answer, long_prompt]))
    run = prepare_sft(
        load_sft_recipe(_one_step(write_recipe, tiny_base_dir, data, tmp_path, max_length=limit))
    )
    assert run.data_stats["train"].as_dict() == {
        "rows_in": 5,
        "kept": 4,
        "dropped": {"no_trained_token_after_truncation": 1},
        "truncated": {"sequences": 1},
    }
    assert run.trainer.args.assistant_only_loss is True
    prepared = {tuple(r["input_ids"]): r["labels"] for r in run.trainer.train_dataset}
    assert len(prepared) == 4 and prepared[tuple(ids[:limit])] == labels[:limit]
    multi_turn = next(c for c in conversations if c["messages"][0]["role"] == "system")
    checked = 0
    for conv in conversations:
        ids, want = expected_labels(run.tokenizer, conv["messages"])
        got = prepared[tuple(ids)]
        assert got == want, conv["id"]
        assert any(x != -100 for x in got) and any(x == -100 for x in got)
        checked += 1
    assert checked == 3
    # the multi-turn sample: system + 2 user turns are masked, both assistant turns are trained
    ids, want = expected_labels(run.tokenizer, multi_turn["messages"])
    trained = run.tokenizer.decode(
        [t for t, lab in zip(ids, prepared[tuple(ids)], strict=True) if lab != -100]
    )
    assert trained == (
        "def add(a, b):\n    return a + b<|im_end|>def add3(a, b, c):\n    return a + b + c<|im_end|>"
    )
