"""The human side of a built mixture: `report.md` (what went in, what was dropped and why, how
long the rows are, a sample per source) and `composition.png` (rows per source, split into
original rows and upsampled repeats, next to the length distribution per source)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mixtures.flow import flow_markdown, source_flows
from mixtures.plots import plot_build_summary

SAMPLE_CHARS = 400


def _amount(entry: dict[str, Any]) -> str:
    amount = entry["amount"]
    return f"count {amount['count']}" if "count" in amount else f"weight {amount['weight']:g}"


def _dropped(entry: dict[str, Any]) -> str:
    return ", ".join(f"{reason} {n}" for reason, n in entry["dropped"].items()) or "-"


def _where(identity: dict[str, Any]) -> str:
    kind = identity.get("type")
    if kind == "hub":
        rev = identity.get("resolved_revision") or identity.get("revision") or "unresolved"
        return f"hub `{identity['hub']}` {identity.get('config') or ''}:{identity['split']} @ {str(rev)[:12]}"
    if kind in ("hub_folder", "save_to_disk"):
        return f"{kind} `{identity['path']}`:{identity['split']}"
    if kind == "code_repo":
        return f"code repo `{identity['path']}` ({identity['files']} files)"
    if kind == "code_files":
        return f"code files of `{identity['path']}` as {identity['repo']} ({identity['files']} selected)"
    return f"`{identity.get('path')}`"


def _render_messages(messages: list[dict[str, Any]]) -> str:
    lines = []
    for m in messages:
        text = m["content"] if len(m["content"]) <= SAMPLE_CHARS else m["content"][:SAMPLE_CHARS] + " …"
        for call in m.get("tool_calls") or []:
            fn = call["function"]
            text += f"\n\n`{fn['name']}({fn['arguments']})`"
        lines.append(f"**{m['role']}**:\n\n{text}")
    return "\n\n".join(lines)


def render_file(row: dict[str, Any]) -> str:
    text = row["content"] if len(row["content"]) <= SAMPLE_CHARS else row["content"][:SAMPLE_CHARS] + "\n…"
    where = "/".join(x for x in (row["repo"], row["path"]) if x)
    fence = "~~~~" if "```" in text else "```"
    return f"**{where}** ({row['language']}, {len(row['content'])} chars):\n\n{fence}\n{text}\n{fence}"


def render_row(row: dict[str, Any], kind: str) -> str:
    """A canonical row as markdown, for the report and `mix show`."""
    if kind == "completion":
        return render_file(row)
    if kind == "sft":
        return _render_messages(row["messages"])
    return "\n\n".join(
        [
            _render_messages(row["prompt"]),
            "*chosen* →\n\n" + _render_messages(row["chosen"]),
            "*rejected* →\n\n" + _render_messages(row["rejected"]),
        ]
    )


def first_rows_by_source(
    ds: Any, names: list[str], per_source: int = 1, scan: int = 5000
) -> dict[str, list[dict]]:
    """The first rows of each source in a split (scanning a bounded prefix)."""
    found: dict[str, list[dict]] = {n: [] for n in names}
    for i in range(min(len(ds), scan)):
        row = ds[i]
        bucket = found.get(row["source"])
        if bucket is not None and len(bucket) < per_source:
            bucket.append(row)
        if all(len(v) >= per_source for v in found.values()):
            break
    return found


def _length_lines(manifest: dict[str, Any]) -> list[str]:
    kind = manifest["kind"]
    field = {"sft": "messages", "completion": "content"}.get(kind, "chosen")
    count = "lines" if kind == "completion" else "turns"
    lines = [
        "",
        "## Lengths (train)",
        "",
        f"| source | rows | {count} (mean) | chars p50 | chars p95 | chars max |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    stats = manifest["stats"]["train"]
    for name, s in [*stats["by_source"].items(), ("**all**", stats["all"])]:
        c = s[f"{field}_chars"]
        lines.append(
            f"| {name} | {s['rows']} | {s[f'{field}_{count}']['mean']} | {c['p50']} | {c['p95']} | {c['max']} |"
        )
    return lines


def _file_lines(manifest: dict[str, Any]) -> list[str]:
    """Completion mixtures: files per language and split, and how the test files were chosen."""
    split = manifest.get("split") or {}
    lines = [
        "",
        "## Files by language",
        "",
        "| language | train files | test files |",
        "| --- | ---: | ---: |",
    ]
    train = manifest["stats"]["train"]["all"].get("languages", {})
    test = manifest["stats"]["test"]["all"].get("languages", {})
    for lang in sorted(set(train) | set(test), key=lambda x: (-train.get(x, 0), x)):
        lines.append(f"| {lang} | {train.get(lang, 0)} | {test.get(lang, 0)} |")
    if split:
        lines += [
            "",
            f"Test files: held out by {split['by']} with `mixtune.code_files.is_held_out(key, "
            f"{split['test_fraction']}, seed={split['seed']})` (key: {split['key']}).",
        ]
    return lines


def write_report(out: Path, manifest: dict[str, Any], saved: Any) -> None:
    kind = manifest["kind"]
    lines = [
        f"# Mixture `{manifest['name']}`",
        "",
        f"{manifest['description']}".strip(),
        "",
        f"- kind: **{kind}**, hash: `{manifest['hash']}`, seed: {manifest['seed']}",
        f"- splits: train **{manifest['splits']['train']}**, test **{manifest['splits']['test']}**",
        f"- rejected rows: {manifest['rejects']['total']} (see `rejects/`)",
        "",
        "![composition](composition.png)",
        "",
        "## Sources",
        "",
        "| source | from | amount | rows in | kept | dropped | train rows | share | test rows |",
        "| --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for name, e in manifest["sources"].items():
        up = " (upsampled)" if e["upsampled"] else ""
        lines.append(
            f"| {name} | {_where(e['identity'])} | {_amount(e)} | {e['rows_in']} | {e['kept']} | {_dropped(e)} | "
            f"{e['train_rows']}{up} | {100 * e['share_of_train']:.1f}% | {e['test']['rows']} ({e['test']['from']}) |"
        )
    lines += [
        "",
        "## Rows in → kept, dropped by reason",
        "",
        *flow_markdown(source_flows(manifest["sources"])),
    ]
    held = [
        (n, e["placeholders"])
        for n, e in manifest["sources"].items()
        if (e.get("placeholders") or {}).get("rows")
    ]
    if held:
        lines += ["", "## Template placeholders left in rows", ""]
        for name, ph in held:
            names = ", ".join(f"`{{{{{k}}}}}` {v}" for k, v in ph["names"].items())
            lines.append(f"- {name}: {ph['rows']} rows ({names}); fill them with `replace:` on the source")
    ignored = [(n, e["ignored_fields"]) for n, e in manifest["sources"].items() if e.get("ignored_fields")]
    if ignored:
        lines += ["", "## Fields not kept (rows carrying them)", ""]
        for name, fields in ignored:
            lines.append(f"- {name}: " + ", ".join(f"`{k}` {v}" for k, v in fields.items()))
    lines += _length_lines(manifest)
    if kind == "completion":
        lines += _file_lines(manifest)
    if manifest["filters"]["applied"]:
        lines += ["", "## Filters", "", "```json", json.dumps(manifest["filters"]["stats"], indent=2), "```"]
    lines += ["", "## One sample per source", ""]
    samples = first_rows_by_source(saved["train"], list(manifest["sources"]))
    for name, rows in samples.items():
        for row in rows:
            lines += [f"### {name} (`{row['id']}`)", "", render_row(row, kind), ""]
    (out / "report.md").write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    plot_build_summary(manifest, out / "composition.png")
