"""The vendor record."""

from dataclasses import dataclass

from ledger.types import Day


@dataclass
class Vendor:
    key: str
    name: str
    terms: Day


def example_vendor() -> Vendor:
    return Vendor(key="ven-1", name="Copper Mill", terms=Day(45))
