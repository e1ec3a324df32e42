"""The invoice record."""

from dataclasses import dataclass

from ledger.types import Day, Money


@dataclass
class Invoice:
    key: str
    account: str
    amount: Money
    due: Day


def example_invoice() -> Invoice:
    return Invoice(key="inv-1", account="acc-1", amount=Money(1200), due=Day(30))
