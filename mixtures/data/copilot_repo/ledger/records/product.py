"""The product record."""

from dataclasses import dataclass

from ledger.types import Grams, Money


@dataclass
class Product:
    key: str
    title: str
    price: Money
    weight: Grams


def example_product() -> Product:
    return Product(key="pro-1", title="oak shelf", price=Money(8900), weight=Grams(7000))
