"""Write `copilot_repo/`: the sample codebase `mixtune demo --copilot` fine-tunes a completion model on.

A small bookkeeping service in one house style, the kind of in-house code a base model never saw:
every record has a dataclass module, a store module and a routes module, and all of them use the
project's own helpers (`require`, `get_logger`, `Store`, `route`, `Reply`) the same way. The files
are generated so the set stays consistent (rerun after changing a template:
`python mixtures/data/make_copilot_repo.py`); the shared helpers are written out as they are.
"""

from __future__ import annotations

import shutil
from pathlib import Path

# record -> (fields as (name, type, example)), the plural used in URLs
RECORDS: dict[str, tuple[list[tuple[str, str, str]], str]] = {
    "account": ([("owner", "str", '"north-branch"'), ("balance", "Money", "Money(0)")], "accounts"),
    "invoice": (
        [("account", "str", '"acc-1"'), ("amount", "Money", "Money(1200)"), ("due", "Day", "Day(30)")],
        "invoices",
    ),
    "payment": ([("invoice", "str", '"inv-1"'), ("amount", "Money", "Money(1200)")], "payments"),
    "customer": ([("name", "str", '"Harbour Foods"'), ("region", "str", '"west"')], "customers"),
    "vendor": ([("name", "str", '"Copper Mill"'), ("terms", "Day", "Day(45)")], "vendors"),
    "refund": (
        [("payment", "str", '"pay-1"'), ("amount", "Money", "Money(300)"), ("reason", "str", '"damaged"')],
        "refunds",
    ),
    "shipment": (
        [("order", "str", '"ord-1"'), ("carrier", "str", '"rail"'), ("weight", "Grams", "Grams(900)")],
        "shipments",
    ),
    "order": ([("customer", "str", '"cus-1"'), ("total", "Money", "Money(4500)")], "orders"),
    "product": (
        [
            ("title", "str", '"oak shelf"'),
            ("price", "Money", "Money(8900)"),
            ("weight", "Grams", "Grams(7000)"),
        ],
        "products",
    ),
    "warehouse": ([("city", "str", '"Leeds"'), ("capacity", "int", "1200")], "warehouses"),
    "coupon": ([("code", "str", '"SPRING"'), ("percent", "int", "10")], "coupons"),
    "review": ([("product", "str", '"pro-1"'), ("stars", "int", "4"), ("text", "str", '"solid"')], "reviews"),
    "budget": ([("account", "str", '"acc-1"'), ("limit", "Money", "Money(50000)")], "budgets"),
    "ledger_entry": (
        [("account", "str", '"acc-1"'), ("amount", "Money", "Money(-250)"), ("memo", "str", '"fees"')],
        "ledger-entries",
    ),
    "supplier_credit": (
        [("vendor", "str", '"ven-1"'), ("amount", "Money", "Money(700)")],
        "supplier-credits",
    ),
    "stock_count": (
        [("warehouse", "str", '"war-1"'), ("product", "str", '"pro-1"'), ("units", "int", "40")],
        "stock-counts",
    ),
}

SHARED = {
    "ledger/__init__.py": '"""Ledger: the bookkeeping service."""\n',
    "ledger/types.py": '''"""Value types every record uses."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Money:
    """An amount in cents (never a float)."""

    cents: int

    def __add__(self, other: "Money") -> "Money":
        return Money(self.cents + other.cents)


@dataclass(frozen=True)
class Day:
    """A number of days (terms, due dates)."""

    days: int


@dataclass(frozen=True)
class Grams:
    """A weight in grams."""

    grams: int
''',
    "ledger/log.py": '''"""One logger per module, named after it."""

import logging


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"ledger.{name}")
''',
    "ledger/errors.py": '''"""The errors the service answers with."""


class LedgerError(Exception):
    """Base of every error the routes turn into a reply."""

    status = 400


class NotFound(LedgerError):
    status = 404


def require(value: object, what: str) -> None:
    """Refuse an empty key or value, naming what was missing."""
    if not value:
        raise LedgerError(f"{what}: required")
''',
    "ledger/store.py": '''"""Storage: one table per record type, keyed by the record's key."""

from ledger.errors import NotFound


class Store:
    def __init__(self) -> None:
        self.tables: dict[type, dict[str, object]] = {}

    def get(self, kind: type, key: str) -> object:
        try:
            return self.tables[kind][key]
        except KeyError:
            raise NotFound(f"{kind.__name__} {key}") from None

    def put(self, kind: type, key: str, item: object) -> None:
        self.tables.setdefault(kind, {})[key] = item

    def drop(self, kind: type, key: str) -> None:
        self.tables.get(kind, {}).pop(key, None)

    def count(self, kind: type) -> int:
        return len(self.tables.get(kind, {}))
''',
    "ledger/routes.py": '''"""Routing: handlers register themselves with a method and a path."""

from dataclasses import dataclass

ROUTES: dict[tuple[str, str], object] = {}


@dataclass
class Reply:
    status: int
    body: object


def route(method: str, path: str):
    def register(handler):
        ROUTES[(method, path)] = handler
        return handler

    return register
''',
}


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def record_module(name: str, fields: list[tuple[str, str, str]]) -> str:
    kind = camel(name)
    types = sorted({t for _, t, _ in fields if t in ("Money", "Day", "Grams")})
    imports = f"from ledger.types import {', '.join(types)}\n" if types else ""
    lines = [
        f'"""The {name.replace("_", " ")} record."""',
        "",
        "from dataclasses import dataclass",
        "",
        *([imports.rstrip()] if imports else []),
        "",
        "",
        "@dataclass",
        f"class {kind}:",
        "    key: str",
        *(f"    {f}: {t}" for f, t, _ in fields),
        "",
        "",
        f"def example_{name}() -> {kind}:",
        f'    return {kind}(key="{name[:3]}-1", ' + ", ".join(f"{f}={ex}" for f, _, ex in fields) + ")",
    ]
    return "\n".join(lines).replace("\n\n\n\n", "\n\n\n") + "\n"


def store_module(name: str) -> str:
    kind = camel(name)
    return f'''"""Storage of {name.replace("_", " ")} records."""

from ledger.errors import require
from ledger.log import get_logger
from ledger.records.{name} import {kind}
from ledger.store import Store

log = get_logger(__name__)


def load_{name}(store: Store, key: str) -> {kind}:
    require(key, "{name} key")
    log.debug("load {name} %s", key)
    return store.get({kind}, key)


def save_{name}(store: Store, item: {kind}) -> None:
    require(item.key, "{name} key")
    log.debug("save {name} %s", item.key)
    store.put({kind}, item.key, item)


def delete_{name}(store: Store, key: str) -> None:
    require(key, "{name} key")
    log.info("delete {name} %s", key)
    store.drop({kind}, key)


def count_{name}s(store: Store) -> int:
    return store.count({kind})
'''


def import_line(module: str, names: list[str]) -> str:
    """`from module import a, b`, wrapped one name a line when too long (as the formatter does)."""
    line = f"from {module} import {', '.join(names)}"
    if len(line) <= 110:
        return line
    return f"from {module} import (\n" + "".join(f"    {n},\n" for n in names) + ")"


def routes_module(name: str, plural: str) -> str:
    kind = camel(name)
    store_import = import_line(
        f"ledger.stores.{name}_store", [f"delete_{name}", f"load_{name}", f"save_{name}"]
    )
    return f'''"""HTTP routes of {name.replace("_", " ")} records."""

from ledger.errors import LedgerError
from ledger.records.{name} import {kind}
from ledger.routes import Reply, route
from ledger.store import Store
{store_import}


@route("GET", "/{plural}/{{key}}")
def get_{name}(store: Store, key: str) -> Reply:
    try:
        return Reply(200, load_{name}(store, key))
    except LedgerError as exc:
        return Reply(exc.status, str(exc))


@route("PUT", "/{plural}/{{key}}")
def put_{name}(store: Store, key: str, item: {kind}) -> Reply:
    if item.key != key:
        return Reply(400, "{name} key does not match the path")
    save_{name}(store, item)
    return Reply(204, None)


@route("DELETE", "/{plural}/{{key}}")
def remove_{name}(store: Store, key: str) -> Reply:
    delete_{name}(store, key)
    return Reply(204, None)
'''


def write(root: Path) -> int:
    if root.exists():
        shutil.rmtree(root)
    files = dict(SHARED)
    for sub in ("records", "stores", "api"):
        files[f"ledger/{sub}/__init__.py"] = ""
    for name, (fields, plural) in RECORDS.items():
        files[f"ledger/records/{name}.py"] = record_module(name, fields)
        files[f"ledger/stores/{name}_store.py"] = store_module(name)
        files[f"ledger/api/{name}_routes.py"] = routes_module(name, plural)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return len(files)


if __name__ == "__main__":
    out = Path(__file__).resolve().parent / "copilot_repo"
    print(f"wrote {write(out)} files to {out}")
