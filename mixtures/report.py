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


def render_row(row: dict[str, Any], kind: str) -> str:
    """A canonical row as markdown, for the report and `mix show`."""
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
    field = "messages" if kind == "sft" else "chosen"
    lines += [
        "",
        "## Lengths (train)",
        "",
        "| source | rows | turns (mean) | chars p50 | chars p95 | chars max |",
    ]
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
    stats = manifest["stats"]["train"]
    for name, s in [*stats["by_source"].items(), ("**all**", stats["all"])]:
        c = s[f"{field}_chars"]
        lines.append(
            f"| {name} | {s['rows']} | {s[f'{field}_turns']['mean']} | {c['p50']} | {c['p95']} | {c['max']} |"
        )
    if manifest["filters"]["applied"]:
        lines += ["", "## Filters", "", "```json", json.dumps(manifest["filters"]["stats"], indent=2), "```"]
    lines += ["", "## One sample per source", ""]
    samples = first_rows_by_source(saved["train"], list(manifest["sources"]))
    for name, rows in samples.items():
        for row in rows:
            lines += [f"### {name} (`{row['id']}`)", "", render_row(row, kind), ""]
    (out / "report.md").write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    plot_build_summary(manifest, out / "composition.png")
