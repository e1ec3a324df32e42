"""README.md model card for a trained model directory, from its run record: what a person (or the
Hub page) needs to know about where the model came from and how well training went."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Hyper-parameters worth a line on the card, in this order; the full set is in mixtune_run.json.
CARD_HYPERPARAMETERS = (
    "learning_rate",
    "lr_scheduler_type",
    "warmup_steps",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "global_batch_size",
    "world_size",
    "max_length",
    "packing",
    "padding_free",
    "train_sampling_strategy",
    "assistant_only_loss",
    "beta",
    "loss_type",
    "bf16",
    "activation_checkpointing",
    "use_peft",
    "lora_r",
    "lora_alpha",
    "optim",
    "weight_decay",
    "seed",
    "chat_template",
)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_model_card(record: dict[str, Any], title: str | None = None, curve_png: str | None = None) -> str:
    """Markdown with YAML front matter (base_model, tags, datasets) from a run record dict."""
    stage = record.get("stage", "sft")
    base = record.get("base_model", "")
    title = title or f"{stage.upper()} model from {base}"
    tags = ["mixtune", stage, "trl", "code"]
    lines = ["---", "library_name: transformers"]
    if base and not Path(base).is_absolute():
        lines.append(f"base_model: {record.get('parent_model', base)}")
    lines.append("tags: [" + ", ".join(tags) + "]")
    lines += ["---", f"# {title}", ""]
    lines.append(
        f"Trained by `mixtune {stage}` with TRL. Parent model: `{record.get('parent_model', '')}`; "
        f"base model: `{base}`."
    )
    lines += ["", "## Data", ""]
    for mix in record.get("mixtures", []):
        total = sum(mix.get("composition", {}).values())
        lines.append(
            f"- **{mix.get('stage')}** mixture `{mix.get('name')}` (hash `{mix.get('hash')}`, {total} rows)"
        )
        for source, n in sorted(mix.get("composition", {}).items(), key=lambda kv: -kv[1]):
            lines.append(f"  - {source}: {n}")
    hp = record.get("hyperparameters", {})
    lines += ["", "## Hyper-parameters", "", "| name | value |", "| --- | --- |"]
    for key in CARD_HYPERPARAMETERS:
        if key in hp and hp[key] is not None:
            lines.append(f"| {key} | {_fmt(hp[key])} |")
    metrics = record.get("metrics", {})
    if metrics:
        lines += ["", "## Final metrics", "", "| metric | value |", "| --- | --- |"]
        for key, value in metrics.items():
            if isinstance(value, (int, float, str)):
                lines.append(f"| {key} | {_fmt(value)} |")
    if curve_png:
        lines += ["", f"![training curves]({curve_png})"]
    lines += [
        "",
        "## Use",
        "",
        "```python",
        "from transformers import pipeline",
        'chat = pipeline("text-generation", model="<this directory>")',
        'print(chat([{"role": "user", "content": "Write a function that reverses a string."}])[0]["generated_text"])',
        "```",
        "",
        "Generation stops at the end-of-turn token (`generation_config.eos_token_id`). "
        "Lineage, full hyper-parameters and library versions: `mixtune_run.json`.",
        "",
    ]
    return "\n".join(lines)


def write_model_card(
    output_dir: str | Path, record: dict[str, Any], title: str | None = None, curve_png: str | None = None
) -> Path:
    """Write README.md into a model directory (replacing the card a trainer may have written)."""
    path = Path(output_dir) / "README.md"
    path.write_text(render_model_card(record, title, curve_png), encoding="utf-8")
    return path
