"""Storage: one table per record type, keyed by the record's key."""

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
