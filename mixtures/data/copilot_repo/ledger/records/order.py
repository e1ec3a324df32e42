"""The order record."""

from dataclasses import dataclass

from ledger.types import Money


@dataclass
class Order:
    key: str
    customer: str
    total: Money


def example_order() -> Order:
    return Order(key="ord-1", customer="cus-1", total=Money(4500))
