"""Rows for measuring decontamination: copies of MBPP solutions and prompts planted the ways
they reach training data, and 1,000 ordinary instruction rows built deterministically from the
shipped sample data and the standard library's own short functions."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from mixtures.formats import RowError, normalise_row

HERE = Path(__file__).resolve().parent
MBPP = HERE / "fixtures" / "mbpp" / "mbpp_sample.jsonl"
SAMPLES = HERE.parents[1] / "mixtures" / "data"
STDLIB_MODULES = (
    "textwrap", "string", "heapq", "bisect", "colorsys", "fnmatch", "glob", "shlex", "statistics",
    "fractions", "calendar", "difflib", "posixpath", "ntpath", "base64", "quopri", "html", "gettext",
    "locale", "random", "csv", "copy", "pprint", "reprlib", "keyword", "operator", "functools",
    "tokenize", "inspect", "dataclasses", "enum", "ipaddress", "shutil", "tempfile", "zipfile",
    "tarfile", "argparse", "configparser", "email.utils", "urllib.parse", "json.decoder", "json.encoder",
)  # fmt: skip


def mbpp_tasks() -> list[dict[str, Any]]:
    return [json.loads(line) for line in MBPP.read_text(encoding="utf-8").splitlines()]


def _chat(user: str, assistant: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


def planted_solutions() -> list[tuple[int, dict[str, Any]]]:
    """(task id, row) with the task's solution copied in: fenced, bare with prose, reindented."""
    rows = []
    for i, task in enumerate(mbpp_tasks()):
        code = task["code"].replace("\r\n", "\n")
        if i % 3 == 0:
            answer = f"Here is a solution:\n\n```python\n{code}\n```\n\nIt runs in linear time."
        elif i % 3 == 1:
            answer = f"{code}\n\nThis is the whole function."
        else:
            answer = (
                "```py\n"
                + "\n".join(line.rstrip().replace("\t", "    ") for line in code.splitlines())
                + "\n```"
            )
        rows.append((task["task_id"], _chat("Solve the exercise from my course, please.", answer)))
    return rows


def planted_prompts() -> list[tuple[int, dict[str, Any]]]:
    """(task id, row) whose user turn is the task's prompt: verbatim, re-cased and re-spaced, or
    followed by the task's tests the way MBPP prompts are usually posed."""
    rows = []
    for i, task in enumerate(mbpp_tasks()):
        text = task["text"]
        if i % 3 == 0:
            user = text
        elif i % 3 == 1:
            user = "  " + text.upper().replace(" ", "  ") + "\n"
        else:
            user = f"{text} Your code should pass these tests:\n\n" + "\n".join(task["test_list"])
        rows.append(
            (task["task_id"], _chat(user, "Let me think about the approach before writing any code."))
        )
    return rows


def _sample_rows() -> list[dict[str, Any]]:
    rows = []
    for path in sorted(SAMPLES.glob("*.json*")):
        kind = "preference" if path.name.startswith("prefs_") else "sft"
        text = path.read_text(encoding="utf-8")
        items = (
            json.loads(text) if path.suffix == ".json" else [json.loads(x) for x in text.splitlines() if x]
        )
        for item in items:
            try:
                row = normalise_row(item, kind)
            except RowError:
                continue
            if kind == "sft":
                rows.append({"messages": row["messages"]})
            else:
                rows.append({"messages": row["prompt"] + row["chosen"]})
    return rows


def _stdlib_functions(limit: int) -> list[dict[str, Any]]:
    import importlib.util

    rows = []
    for name in STDLIB_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin or not Path(spec.origin).is_file():
            continue  # frozen modules have no source file
        source = Path(spec.origin).read_text(encoding="utf-8")
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef) and 2 <= node.end_lineno - node.lineno + 1 <= 15:
                code = "\n".join(lines[node.lineno - 1 : node.end_lineno])
                question = f"Write a Python function `{node.name}` like the one in the `{name}` module."
                rows.append(_chat(question, f"```python\n{code}\n```\n\nThat is all it takes."))
                if len(rows) >= limit:
                    return rows
    return rows


def _short_answers(n: int) -> list[dict[str, Any]]:
    """Ordinary short questions and answers, including tiny functions."""
    rows = []
    ops = [
        ("square", "x * x"),
        ("double", "x * 2"),
        ("negate", "-x"),
        ("half", "x / 2"),
        ("is_even", "x % 2 == 0"),
    ]
    for i in range(n):
        a, b = i % 17 + 2, i % 5 + 3
        kind = i % 4
        if kind == 0:
            rows.append(_chat(f"What is {a} plus {b}?", f"{a + b}."))
        elif kind == 1:
            name, expr = ops[i % len(ops)]
            rows.append(_chat(f"Write a function {name}(x).", f"def {name}(x):\n    return {expr}"))
        elif kind == 2:
            rows.append(
                _chat(f"Write a function to find the sum of a list of {a} numbers.", "Use sum(numbers).")
            )
        else:
            rows.append(_chat("Is it true?", "Yes." if i % 2 else "No."))
    return rows


def ordinary_rows(n: int = 1000) -> list[dict[str, Any]]:
    rows = _sample_rows()
    rows += _short_answers(200)
    rows += _stdlib_functions(n - len(rows))
    assert len(rows) == n, len(rows)
    return rows
