"""The shipment record."""

from dataclasses import dataclass

from ledger.types import Grams


@dataclass
class Shipment:
    key: str
    order: str
    carrier: str
    weight: Grams


def example_shipment() -> Shipment:
    return Shipment(key="shi-1", order="ord-1", carrier="rail", weight=Grams(900))
