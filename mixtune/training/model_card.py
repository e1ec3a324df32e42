"""README.md model card for a trained model directory, from its run record: what a person (or the
Hub page) needs to know about where the model came from and how well training went.

The card is a list of `CardSection`s rendered in order; a stage adds its own sections (DPO: its
starting point and reference) as data, placed before the hyper-parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixtune.training.run_record import SCHEDULE_ARGS

# Hyper-parameters worth a line on the card, in this order; the full set is in mixtune_run.json.
CARD_HYPERPARAMETERS = (
    *SCHEDULE_ARGS,
    "global_batch_size",
    "world_size",
    "max_length",
    "max_prompt_length",
    "batching",
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


@dataclass
class CardSection:
    """One `## title` section of the card: its paragraphs / list items / table rows, one per line."""

    title: str
    lines: list[str] = field(default_factory=list)

    def render(self) -> list[str]:
        return [f"## {self.title}", "", *self.lines]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def hyperparameter_rows(hp: dict[str, Any], device: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, value) rows as a reader should see them: a fractional `warmup_steps` is the ratio the
    recipe gave (`warmup_ratio`), and bf16 without a GPU is autocast (the weights stay fp32)."""
    rows = []
    for key in CARD_HYPERPARAMETERS:
        value = hp.get(key)
        if value is None:
            continue
        if key == "warmup_steps" and isinstance(value, float) and 0 < value < 1:
            rows.append(("warmup_ratio", f"{_fmt(value)} (of the optimizer steps)"))
        elif key == "bf16" and value is True and device.get("cuda") is False:
            rows.append((key, "True (CPU autocast; weights and optimizer in fp32)"))
        else:
            rows.append((key, _fmt(value)))
    return rows


def data_section(record: dict[str, Any]) -> CardSection:
    """The mixtures (lineage of every stage, with composition) and what this run kept of its rows."""
    lines = []
    for mix in record.get("mixtures", []):
        total = sum(mix.get("composition", {}).values())
        lines.append(
            f"- **{mix.get('stage')}** mixture `{mix.get('name')}` (hash `{mix.get('hash')}`, {total} rows)"
        )
        for source, n in sorted(mix.get("composition", {}).items(), key=lambda kv: -kv[1]):
            lines.append(f"  - {source}: {n}")
    for split, stats in (record.get("data") or {}).items():
        dropped = ", ".join(f"{k}: {v}" for k, v in stats.get("dropped", {}).items()) or "none"
        truncated = ", ".join(f"{k}: {v}" for k, v in stats.get("truncated", {}).items()) or "none"
        lines += [
            "",
            f"{split}: {stats.get('kept')} of {stats.get('rows_in')} rows used (dropped: {dropped}); "
            f"truncated to fit: {truncated}.",
        ]
    return CardSection("Data", lines)


def _table(title: str, header: str, rows: list[tuple[str, str]]) -> CardSection:
    return CardSection(
        title, [f"| {header} | value |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows)]
    )


def _use_section() -> CardSection:
    return CardSection(
        "Use",
        [
            "```python",
            "from transformers import pipeline",
            'chat = pipeline("text-generation", model="<this directory>")',
            'print(chat([{"role": "user", "content": "Write a function that reverses a string."}])[0]["generated_text"])',
            "```",
            "",
            "Generation stops at the end-of-turn token (`generation_config.eos_token_id`). "
            "Lineage, full hyper-parameters and library versions: `mixtune_run.json`.",
        ],
    )


def card_sections(
    record: dict[str, Any], curve_png: str | None = None, stage_sections: list[CardSection] | None = None
) -> list[CardSection]:
    """Every section of the card, in order: data, the stage's own, hyper-parameters, metrics, use."""
    sections = [data_section(record), *(stage_sections or [])]
    hp_rows = hyperparameter_rows(record.get("hyperparameters", {}), record.get("device") or {})
    sections.append(_table("Hyper-parameters", "name", hp_rows))
    metrics = [(k, _fmt(v)) for k, v in record.get("metrics", {}).items() if isinstance(v, (int, float, str))]
    if metrics or curve_png:
        section = _table("Final metrics", "metric", metrics) if metrics else CardSection("Final metrics")
        if curve_png:
            section.lines += ["", f"![training curves]({curve_png})"]
        sections.append(section)
    sections.append(_use_section())
    return sections


def render_model_card(
    record: dict[str, Any],
    title: str | None = None,
    curve_png: str | None = None,
    sections: list[CardSection] | None = None,
) -> str:
    """Markdown with YAML front matter (base_model, tags) from a run record dict; `sections` are the
    stage's own, placed after the data and before the hyper-parameters."""
    stage = record.get("stage", "sft")
    base = record.get("base_model", "")
    title = title or f"{stage.upper()} model from {base}"
    lines = ["---", "library_name: transformers"]
    if base and not Path(base).is_absolute():
        lines.append(f"base_model: {record.get('parent_model', base)}")
    lines.append("tags: [" + ", ".join(["mixtune", stage, "trl", "code"]) + "]")
    lines += ["---", f"# {title}", ""]
    lines.append(
        f"Trained by `mixtune {stage}` with TRL. Parent model: `{record.get('parent_model', '')}`; "
        f"base model: `{base}`."
    )
    for section in card_sections(record, curve_png, sections):
        lines += ["", *section.render()]
    return "\n".join(lines) + "\n"


def write_model_card(
    output_dir: str | Path,
    record: dict[str, Any],
    title: str | None = None,
    curve_png: str | None = None,
    sections: list[CardSection] | None = None,
) -> Path:
    """Write README.md into a model directory (replacing the card a trainer may have written)."""
    path = Path(output_dir) / "README.md"
    path.write_text(render_model_card(record, title, curve_png, sections), encoding="utf-8")
    return path
