"""The payment record."""

from dataclasses import dataclass

from ledger.types import Money


@dataclass
class Payment:
    key: str
    invoice: str
    amount: Money


def example_payment() -> Payment:
    return Payment(key="pay-1", invoice="inv-1", amount=Money(1200))
