"""Stock keeping for a small shop."""

from __future__ import annotations


class Inventory:
    """Counts of items in stock, by name."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, name: str, amount: int = 1) -> None:
        """Put `amount` more of `name` into stock."""
        if amount <= 0:
            raise ValueError("amount must be positive")
        self.counts[name] = self.counts.get(name, 0) + amount

    def remove(self, name: str, amount: int = 1) -> bool:
        """Take `amount` of `name` out of stock; False (and no change) when there is not enough."""
        have = self.counts.get(name, 0)
        if have < amount:
            return False
        self.counts[name] = have - amount
        if self.counts[name] == 0:
            del self.counts[name]
        return True

    def low_stock(self, threshold: int = 3) -> list[str]:
        """Names of the items with fewer than `threshold` left, sorted."""
        names = [name for name, count in self.counts.items() if count < threshold]
        return sorted(names)
