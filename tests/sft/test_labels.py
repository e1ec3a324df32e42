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


def test_labels_mask_everything_but_assistant_turns(
    tiny_base_dir: Path,
    toy_jsonl: Path,
    write_recipe: Callable[..., Path],
    tmp_path: Path,
    conversations: list[dict[str, Any]],
) -> None:
    from sft.recipe import load_sft_recipe
    from sft.train import prepare_sft

    run = prepare_sft(load_sft_recipe(_one_step(write_recipe, tiny_base_dir, toy_jsonl, tmp_path)))
    assert run.data_stats["train"].as_dict() == {
        "rows_in": 3,
        "kept": 3,
        "dropped": {},
        "truncated": {"sequences": 0},
    }
    assert run.trainer.args.assistant_only_loss is True
    prepared = {tuple(r["input_ids"]): r["labels"] for r in run.trainer.train_dataset}
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


def test_rows_cut_by_max_length_are_counted_and_rows_left_untrained_are_dropped(
    tiny_base_dir: Path,
    write_recipe: Callable[..., Path],
    tmp_path: Path,
    conversations: list[dict[str, Any]],
) -> None:
    from mixtune.chat_format import setup_chat_format
    from mixtune.training.model import load_tokenizer
    from sft.recipe import load_sft_recipe
    from sft.train import prepare_sft

    long_prompt = {
        "messages": [{"role": "user", "content": "word " * 300}, {"role": "assistant", "content": "ok"}]
    }
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in [*conversations, long_prompt]), encoding="utf-8")
    tokenizer = load_tokenizer(str(tiny_base_dir))
    setup_chat_format(None, tokenizer, "chatml", overwrite=False)
    rows = [expected_labels(tokenizer, r["messages"]) for r in [*conversations, long_prompt]]
    # a limit inside the longest conversation's first answer: longer rows are cut, the long prompt's
    # row keeps no trained token and is dropped
    first_trained = [next(i for i, lab in enumerate(labels) if lab != -100) for _, labels in rows]
    longest = max(range(len(conversations)), key=lambda i: len(rows[i][0]))
    limit = first_trained[longest] + 2
    cut = [(ids[:limit], labels[:limit]) for ids, labels in rows if len(ids) > limit]
    emptied = sum(all(lab == -100 for lab in labels) for _, labels in cut)
    assert emptied == 1 and len(cut) - emptied >= 1
    run = prepare_sft(
        load_sft_recipe(_one_step(write_recipe, tiny_base_dir, data, tmp_path, max_length=limit))
    )
    assert run.data_stats["train"].as_dict() == {
        "rows_in": 4,
        "kept": 3,
        "dropped": {"no_trained_token_after_truncation": 1},
        "truncated": {"sequences": len(cut) - 1},
    }
    prepared = {tuple(r["input_ids"]): r["labels"] for r in run.trainer.train_dataset}
    assert len(prepared) == 3
    for ids, labels in cut:
        if any(lab != -100 for lab in labels):
            assert prepared[tuple(ids)] == labels
