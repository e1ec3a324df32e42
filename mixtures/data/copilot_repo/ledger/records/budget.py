"""The budget record."""

from dataclasses import dataclass

from ledger.types import Money


@dataclass
class Budget:
    key: str
    account: str
    limit: Money


def example_budget() -> Budget:
    return Budget(key="bud-1", account="acc-1", limit=Money(50000))
