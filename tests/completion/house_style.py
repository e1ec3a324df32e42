"""A small repository in one house style, for completion tests: one short module per kind of record,
all alike, so the held-out modules (records not trained on) are predictable from the style and from
the names around the masked text. Short files pack many FIM documents into each row, which is
what lets a randomly initialised test model learn the layout within a test's budget."""

from __future__ import annotations

from pathlib import Path

RECORDS = (
    "plum", "pear", "fig", "kiwi", "lime", "melon", "grape", "peach", "mango", "lemon", "cherry", "olive",
    "apple", "berry", "date", "guava", "lychee", "papaya", "quince", "banana", "orange", "apricot",
)  # fmt: skip
HELD_OUT = ("cherry", "olive", "melon", "guava")


def module(record: str) -> str:
    return (
        "from shop.store import Store\n"
        "\n"
        "\n"
        f"def load_{record}(store: Store, key: str):\n"
        f'    return store.get("{record}", key)\n'
    )


def write_repo(root: Path) -> tuple[list[dict[str, str]], Path]:
    """Training rows ({content, path}) and a directory holding only the held-out modules."""
    held = root / "held_out" / "shop"
    held.mkdir(parents=True)
    rows = []
    for record in RECORDS:
        text = module(record)
        if record in HELD_OUT:
            (held / f"{record}.py").write_text(text, encoding="utf-8")
        else:
            rows.append({"content": text, "path": f"shop/{record}.py"})
    return rows, root / "held_out"
