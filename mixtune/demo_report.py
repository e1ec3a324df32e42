"""The demo's one-page report (markdown + HTML): every stage's wall time, what it produced, the
plots inline, and links to every artefact, so a person sees the whole run at a glance."""

from __future__ import annotations

import html
import json
import os
import time
from pathlib import Path
from typing import Any

from mixtune.manifest import MANIFEST
from mixtune.run_record import run_record_path

SHOWN_SUFFIXES = (".md", ".html", ".png", ".json", ".jsonl")
# The training metrics a reader looks for first (SFT, then DPO names); the rest are in mixtune_run.json.
KEY_METRICS = (
    "final_loss",
    "eval_loss",
    "eval_mean_token_accuracy",
    "train_tokens_per_second",
    "pad_share",
    "final_train_loss",
    "eval_before_logps_margin",
    "eval_logps_margin",
    "eval_rewards/accuracies",
    "eval_rewards/margins",
    "train_runtime",
)


def _rel(path: Path, root: Path) -> str:
    return os.path.relpath(path, root)


def _files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return [directory] if directory.is_file() else []
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in SHOWN_SUFFIXES)


def _load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _sections(out: Path, paths: dict[str, Path]) -> list[tuple[str, list[str], list[Path], list[Path]]]:
    """(title, facts, images, links) per artefact group."""
    sections = []
    base = _load(paths["base_model"] / "mixtune_base_model.json")
    sections.append(
        (
            "Base model",
            [
                f"embedded StarCoder2-architecture model, size `{base.get('size')}`, "
                f"{base.get('parameters', 0):,} parameters",
                f"pre-training loss {base.get('pretrain_loss_first')} -> {base.get('pretrain_loss_last')}",
            ],
            [],
            [paths["base_model"] / "README.md"],
        )
    )
    for key, title in (("sft_mixture", "SFT mixture"), ("dpo_mixture", "Preference mixture")):
        manifest = _load(paths[key] / MANIFEST)
        facts = [
            f"`{manifest.get('name')}` hash `{manifest.get('hash')}`, splits {manifest.get('splits')}",
        ]
        for name, src in (manifest.get("sources") or {}).items():
            dropped = {k: v for k, v in (src.get("dropped") or {}).items() if v}
            facts.append(
                f"source `{name}`: in {src.get('rows_in')}, kept {src.get('kept')}, dropped {dropped or 0}"
            )
        files = _files(paths[key])
        sections.append((title, facts, [p for p in files if p.suffix == ".png"], files))
    files = _files(paths["mixture_compare"])
    sections.append(("Mixtures compared", [], [p for p in files if p.suffix == ".png"], files))
    for key, title in (("sft_model", "SFT"), ("dpo_model", "DPO")):
        run = _load(run_record_path(paths[key]))
        metrics = run.get("metrics") or {}
        facts = [f"from `{run.get('parent_model')}`"]
        facts += [f"{k}: {metrics[k]:.4g}" for k in KEY_METRICS if isinstance(metrics.get(k), (int, float))]
        files = _files(paths[key])
        sections.append((title, facts, [p for p in files if p.suffix == ".png"], files))
    files = _files(paths["compare"])
    sections.append(("HumanEval comparison", [], [p for p in files if p.suffix == ".png"], files))
    pref = _load(paths["preference_accuracy"])
    facts = [
        f"{label}: accuracy {s['accuracy']:.3f}, mean margin {s['mean_margin']:.3f} nats (n={s['n']})"
        for label, s in pref.items()
    ]
    sections.append(("Held-out preference accuracy", facts, [], [paths["preference_accuracy"]]))
    return sections


def write_report(out: Path, paths: dict[str, Path], results: list[Any], settings: Any, chat: str) -> Path:
    """The chat demo's report; `chat` is the playground command it ends with."""
    sections = _sections(out, paths)
    total = sum(r.seconds for r in results)
    stamp = time.strftime("%Y-%m-%d %H:%M")

    md = [
        f"# mixtune demo report\n\n{stamp}; total wall time {total / 60:.1f} min (cached stages count the time they took when built).\n"
    ]
    md.append("| stage | wall time (s) | cached |\n| --- | ---: | --- |")
    md += [f"| {r.name} | {r.seconds:.0f} | {'yes' if r.cached else 'no'} |" for r in results]
    md.append(
        f"\nHumanEval: first {settings.eval_limit} problems, greedy, {settings.max_new_tokens} new tokens.\n"
    )
    for title, facts, images, links in sections:
        md.append(f"## {title}\n")
        md += [f"- {f}" for f in facts]
        md += [f"\n![{p.name}]({_rel(p, out)})" for p in images]
        if links:
            md.append("\nfiles: " + ", ".join(f"[{_rel(p, out)}]({_rel(p, out)})" for p in links))
        md.append("")
    md.append(f"## Playground\n\n```\n{chat}\n```\n")
    md_path = out / "report.md"
    md_path.write_text("\n".join(md), encoding="utf-8")

    h = [
        "<!doctype html><html><head><meta charset='utf-8'><title>mixtune demo report</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;line-height:1.4}"
        "img{max-width:100%;border:1px solid #ddd;margin:.5em 0}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.2em .6em}code,pre{background:#f4f4f4}</style></head><body>",
        f"<h1>mixtune demo report</h1><p>{stamp}; total wall time {total / 60:.1f} min.</p>",
        "<table><tr><th>stage</th><th>wall time (s)</th><th>cached</th></tr>",
    ]
    h += [
        f"<tr><td>{html.escape(r.name)}</td><td>{r.seconds:.0f}</td><td>{'yes' if r.cached else 'no'}</td></tr>"
        for r in results
    ]
    h.append("</table>")
    for title, facts, images, links in sections:
        h.append(f"<h2>{html.escape(title)}</h2><ul>")
        h += [f"<li>{html.escape(f)}</li>" for f in facts]
        h.append("</ul>")
        h += [f"<img src='{html.escape(_rel(p, out))}' alt='{html.escape(p.name)}'>" for p in images]
        if links:
            h.append(
                "<p>files: "
                + ", ".join(
                    f"<a href='{html.escape(_rel(p, out))}'>{html.escape(_rel(p, out))}</a>" for p in links
                )
                + "</p>"
            )
    h.append(f"<h2>Playground</h2><pre>{html.escape(chat)}</pre></body></html>")
    (out / "report.html").write_text("\n".join(h), encoding="utf-8")
    return md_path


def write_copilot_report(
    out: Path, paths: dict[str, Path], results: list[Any], settings: Any, serve: str
) -> Path:
    """`mixtune demo --copilot`'s report: stage times, the held-out completion scores before and
    after fine-tuning (table + plot), the training run, and the `serve` command."""
    scores = _load(paths["copilot_scores"])
    run = _load(run_record_path(paths["copilot_model"]))
    metrics = run.get("metrics") or {}
    manifest = _load(paths["code_mixture"] / MANIFEST)
    total = sum(r.seconds for r in results)
    md = [
        "# mixtune copilot demo report\n",
        f"{time.strftime('%Y-%m-%d %H:%M')}; total wall time {total / 60:.1f} min.\n",
        "| stage | wall time (s) | cached |\n| --- | ---: | --- |",
        *(f"| {r.name} | {r.seconds:.0f} | {'yes' if r.cached else 'no'} |" for r in results),
        "\n## Held-out files: before and after\n",
        f"Mixture `{manifest.get('name')}` (hash `{manifest.get('hash')}`): splits {manifest.get('splits')}; "
        f"masked lines and spans of the test files, greedy, {settings.max_new_tokens} new tokens.\n",
        "| model | exact match | edit similarity | tasks |\n| --- | ---: | ---: | ---: |",
        *(
            f"| {label} | {s['exact_match']:.3f} | {s['edit_similarity']:.3f} | {s.get('tasks')} |"
            for label, s in scores.items()
        ),
        f"\n![{paths['copilot_plot'].name}]({_rel(paths['copilot_plot'], out)})\n",
        "## Fine-tuning\n",
        f"- from `{run.get('parent_model')}`",
        *(f"- {k}: {metrics[k]:.4g}" for k in KEY_METRICS if isinstance(metrics.get(k), (int, float))),
        "\nfiles: " + ", ".join(f"[{_rel(p, out)}]({_rel(p, out)})" for p in _files(paths["copilot_model"])),
        f"\n## Serve it\n\n```\n{serve}\n```\n",
        "then point an editor's OpenAI-compatible completion client at `http://127.0.0.1:8000/v1` "
        "(README: Completion (personal copilot)).\n",
    ]
    md_path = out / "report.md"
    text = "\n".join(md)
    md_path.write_text(text, encoding="utf-8")
    body = html.escape(text).replace("\n", "<br>\n")
    img = f"<img src='{html.escape(_rel(paths['copilot_plot'], out))}' alt='before and after'>"
    (out / "report.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>mixtune copilot demo report</title>"
        "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;line-height:1.4}"
        "img{max-width:100%}</style></head><body>" + img + "<p>" + body + "</p></body></html>",
        encoding="utf-8",
    )
    return md_path
