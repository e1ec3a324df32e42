"""The ledger entry record."""

from dataclasses import dataclass

from ledger.types import Money


@dataclass
class LedgerEntry:
    key: str
    account: str
    amount: Money
    memo: str


def example_ledger_entry() -> LedgerEntry:
    return LedgerEntry(key="led-1", account="acc-1", amount=Money(-250), memo="fees")
