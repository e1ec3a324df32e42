"""Deterministic synthetic code rows, for measuring search recall and speed at any size.

Each function is built from a seeded generator: random identifiers over a large vocabulary
and a random mix of statements, so two functions share little beyond keywords, as unrelated
code does. `edit` makes the small edits a copied snippet goes through (a renamed variable,
a changed constant, an inserted or deleted line).
"""

from __future__ import annotations

import random
from typing import Any

_SYLLABLES = [
    "ka", "lo", "mi", "ne", "tor", "ver", "zu", "pa", "qui", "ran", "sel", "dax", "bo", "fen",
    "gri", "hul", "jy", "mox", "nit", "pry", "sov", "tum", "wex", "yal", "zor", "cap", "dri",
]  # fmt: skip


def identifier(rng: random.Random) -> str:
    return "_".join("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))) for _ in range(2))


def function(rng: random.Random, lines: int = 12) -> str:
    """One Python function of about `lines` statements, all names drawn from `rng`."""
    name, args = identifier(rng), [identifier(rng) for _ in range(rng.randint(1, 3))]
    names = list(args)
    body = []
    for _ in range(lines):
        target = identifier(rng)
        a, b = rng.choice(names), rng.choice(names)
        choice = rng.randrange(5)
        if choice == 0:
            body.append(f"    {target} = {a} * {rng.randint(2, 999)} + {b}")
        elif choice == 1:
            body.append(f"    {target} = [{a} for _ in range({rng.randint(2, 64)})]")
        elif choice == 2:
            body.append(f"    {target} = {identifier(rng)}({a}, {b}, key={rng.randint(0, 9999)})")
        elif choice == 3:
            body.append(
                f"    if {a} > {rng.randint(0, 500)}:\n        {target} = {b} - {a}\n    else:\n        {target} = {a}"
            )
        else:
            body.append(f'    {target} = "{identifier(rng)}".join(str({a}))')
        names.append(target)
    body.append(f"    return {rng.choice(names)}")
    return f"def {name}({', '.join(args)}):\n" + "\n".join(body) + "\n"


def edit(code: str, rng: random.Random, n_edits: int = 2) -> str:
    """`code` with `n_edits` small edits: a renamed identifier, a changed number, a line
    inserted or deleted."""
    lines = code.splitlines()
    for _ in range(n_edits):
        kind = rng.randrange(4)
        i = rng.randrange(1, max(2, len(lines) - 1))
        if kind == 0:
            words = [w for w in lines[i].replace("(", " ").replace(")", " ").split() if w.isidentifier()]
            if words:
                w = rng.choice(words)
                lines[i] = lines[i].replace(w, w + "_x", 1)
        elif kind == 1:
            lines[i] = lines[i] + f"  # {identifier(rng)}"
        elif kind == 2:
            lines.insert(i, f"    {identifier(rng)} = {rng.randint(0, 99)}")
        elif len(lines) > 4:
            del lines[i]
    return "\n".join(lines) + "\n"


def code_row(rng: random.Random, lines: int = 12) -> dict[str, Any]:
    """An SFT row: a request and a fenced Python answer."""
    code = function(rng, lines)
    return {
        "messages": [
            {"role": "user", "content": f"Write the function `{code.split('(')[0][4:]}`."},
            {"role": "assistant", "content": f"Here it is:\n\n```python\n{code}```"},
        ]
    }


def code_rows(n: int, seed: int = 0, lines: int = 12) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [code_row(rng, lines) for _ in range(n)]
