"""Turn a local code repository into instruction rows, for fine-tuning a model on one's own code.

Three tasks, each a two-turn conversation whose answer is real code from the repository:
- `complete_file`: the beginning of a file (cut at a top-level statement boundary near the
  middle) -> the rest of it;
- `complete_function`: a function's header, docstring and first half of its body -> the
  whole function;
- `docstring_to_code`: a function's signature and docstring -> its implementation.
Functions come from Python's `ast`; other languages get `complete_file` rows only.
"""

from __future__ import annotations

import ast
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mixtune.code_files import language_of, outside_root, select_files
from mixtune.hashing import hash_obj, hash_tree

# fences name languages the way Markdown highlighters do
FENCE_NAMES = {"c++": "cpp", "shell": "bash", "c-sharp": "csharp"}


def repo_files(root: Path, include: list[str], exclude: list[str]) -> list[Path]:
    """Files under `root` matching any include glob and no exclude glob, sorted, skipping VCS,
    vendored folders, caches, virtual environments and build output (one walk:
    `mixtune.code_files.select_files`)."""
    return [p for p, reason in select_files(root, include, exclude) if reason is None and p.is_file()]


def fence_language(path: str) -> str:
    lang = language_of(path)
    if lang is None:
        return Path(path).suffix.lstrip(".").lower() or "text"
    return FENCE_NAMES.get(lang, lang)


def repo_fingerprint(root: Path, files: list[Path], spec: dict[str, Any]) -> str:
    """Contents of the files inside the repository; for links out, only where they point."""
    inside = [f for f in files if outside_root(f, root) is None]
    links = [[f.relative_to(root).as_posix(), str(outside_root(f, root))] for f in files if f not in inside]
    return hash_obj({"files": hash_tree(inside, root), "links_out": links, "spec": spec}, length=32)


def _fence(lang: str, code: str) -> str:
    return f"```{lang}\n{code.rstrip()}\n```"


def _row(messages: list[dict[str, str]], shown: str, line: int, error: str = "") -> dict[str, Any]:
    raw = json.dumps({"messages": messages}, ensure_ascii=False) if messages else ""
    return {"_raw": raw, "_file": shown, "_line": line, "_error": error}


def _split_line(lines: list[str], tree: ast.Module | None) -> int:
    """Index of the line where the file is cut: a top-level statement start nearest the middle."""
    middle = len(lines) // 2
    if tree is not None and len(tree.body) > 1:
        starts = [getattr(node, "lineno", 1) - 1 for node in tree.body[1:]]
        decorated = [
            min([n.lineno - 1 for n in getattr(node, "decorator_list", [])] + [node.lineno - 1])
            for node in tree.body[1:]
        ]
        starts = sorted(set(decorated) | set(starts))
        return min(starts, key=lambda s: (abs(s - middle), s))
    for offset in range(len(lines)):
        for cand in (middle - offset, middle + offset):
            if 0 < cand < len(lines) and not lines[cand - 1].strip():
                return cand
    return middle


def complete_file_row(rel: str, lang: str, text: str, tree: ast.Module | None) -> list[dict[str, str]] | None:
    lines = text.splitlines(keepends=True)
    if len(lines) < 4:
        return None
    cut = _split_line(lines, tree)
    head, tail = "".join(lines[:cut]), "".join(lines[cut:])
    if not head.strip() or not tail.strip():
        return None
    return [
        {
            "role": "user",
            "content": f"Here is the beginning of `{rel}`. Write the rest of the file.\n\n{_fence(lang, head)}",
        },
        {"role": "assistant", "content": _fence(lang, tail)},
    ]


def _functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _function_source(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    start = min([d.lineno for d in node.decorator_list] + [node.lineno]) - 1
    return textwrap.dedent("".join(lines[start : node.end_lineno]))


def _signature(source: str) -> str:
    """`def name(args) -> ret:` (first logical line of the definition, decorators dropped)."""
    out = []
    for line in source.splitlines():
        if not out and line.lstrip().startswith("@"):
            continue
        out.append(line.strip())
        if line.rstrip().endswith(":"):
            break
    return " ".join(out)


def function_rows(
    rel: str, lines: list[str], tree: ast.Module, tasks: list[str], min_body_lines: int
) -> Iterator[tuple[int, list[dict[str, str]]]]:
    for node in sorted(_functions(tree), key=lambda n: n.lineno):
        body = node.body
        doc = ast.get_docstring(node)
        code_body = body[1:] if doc else body
        if not code_body:
            continue
        body_start, body_end = code_body[0].lineno, node.end_lineno or code_body[-1].lineno
        if body_end - body_start + 1 < min_body_lines:
            continue
        source = _function_source(lines, node)
        if "docstring_to_code" in tasks and doc and doc.strip():
            prompt = (
                f"Write a Python function `{_signature(source)}` (from `{rel}`) that does the following:\n\n"
                f"{doc.strip()}"
            )
            yield (
                node.lineno,
                [
                    {"role": "user", "content": prompt},
                    {"role": "assistant", "content": _fence("python", source)},
                ],
            )
        if "complete_function" in tasks:
            keep = (body_start - 1) + (body_end - body_start + 1) // 2
            start = min([d.lineno for d in node.decorator_list] + [node.lineno]) - 1
            head = textwrap.dedent("".join(lines[start:keep]))
            prompt = f"Complete the function `{node.name}` from `{rel}`:\n\n{_fence('python', head)}"
            yield (
                node.lineno,
                [
                    {"role": "user", "content": prompt},
                    {"role": "assistant", "content": _fence("python", source)},
                ],
            )


def generate_repo_rows(
    root: str,
    files: list[str],
    shown_root: str,
    tasks: list[str],
    max_file_chars: int,
    min_body_lines: int,
) -> Iterator[dict[str, Any]]:
    """Raw rows (`_raw` = {"messages": ...} as JSON), file by file in sorted order."""
    base = Path(root)
    for path in files:
        rel = Path(path).relative_to(base).as_posix()
        shown = f"{shown_root}/{rel}" if shown_root not in ("", ".") else rel
        real = outside_root(Path(path), base)
        if real is not None:
            yield _row([], shown, 1, f"outside_repository: links to {real}, outside the repository; not read")
            continue
        data = Path(path).read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield _row([], shown, 1, f"invalid_utf8: byte 0x{data[exc.start]:02x} at offset {exc.start}")
            continue
        if not text.strip():
            continue
        lang = fence_language(path)
        tree = None
        if lang == "python":
            try:
                tree = ast.parse(text)
            except SyntaxError as exc:
                yield _row([], shown, exc.lineno or 1, f"syntax_error: {exc.msg}")
        if "complete_file" in tasks:
            if len(text) > max_file_chars:
                yield _row(
                    [], shown, 1, f"file_too_large: {len(text)} characters > max_file_chars {max_file_chars}"
                )
            else:
                messages = complete_file_row(rel, lang, text, tree)
                if messages is not None:
                    yield _row(messages, shown, 1)
        if tree is not None and ({"docstring_to_code", "complete_function"} & set(tasks)):
            lines = text.splitlines(keepends=True)
            for lineno, messages in function_rows(rel, lines, tree, tasks, min_body_lines):
                yield _row(messages, shown, lineno)


def read_code_repo(root: Path, shown_root: str, spec: dict[str, Any], cache: Path) -> tuple[Any, str]:
    """A code repository -> (Dataset of raw rows, fingerprint of the files and settings)."""
    from mixtures.readers import READER_VERSION, write_raw_dataset

    files = repo_files(root, spec["include"], spec["exclude"])
    fingerprint = repo_fingerprint(root, files, spec)
    if not files:
        return None, fingerprint
    rows = generate_repo_rows(
        str(root),
        [str(f) for f in files],
        shown_root,
        tuple(spec["tasks"]),
        spec["max_file_chars"],
        spec["min_body_lines"],
    )
    ds = write_raw_dataset(
        rows, cache / f"repo-{READER_VERSION}-{fingerprint}.arrow", desc=f"reading {shown_root}"
    )
    return ds, fingerprint
