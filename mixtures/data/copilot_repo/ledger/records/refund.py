"""The refund record."""

from dataclasses import dataclass

from ledger.types import Money


@dataclass
class Refund:
    key: str
    payment: str
    amount: Money
    reason: str


def example_refund() -> Refund:
    return Refund(key="ref-1", payment="pay-1", amount=Money(300), reason="damaged")
