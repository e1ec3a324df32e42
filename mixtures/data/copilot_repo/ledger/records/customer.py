"""The customer record."""

from dataclasses import dataclass


@dataclass
class Customer:
    key: str
    name: str
    region: str


def example_customer() -> Customer:
    return Customer(key="cus-1", name="Harbour Foods", region="west")
