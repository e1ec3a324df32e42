"""Printable receipts."""

from __future__ import annotations

from shop.prices import format_cents


def receipt_lines(items: list[tuple[str, int, int]]) -> list[str]:
    """One line per (name, quantity, unit price) and a total line."""
    lines = []
    total = 0
    for name, quantity, unit in items:
        cost = quantity * unit
        total += cost
        lines.append(f"{name:<20} {quantity:>3} x {format_cents(unit):>8} = {format_cents(cost):>9}")
    lines.append(f"{'TOTAL':<37} {format_cents(total):>9}")
    return lines


def print_receipt(items: list[tuple[str, int, int]]) -> None:
    """Print the receipt for `items` to standard output."""
    for line in receipt_lines(items):
        print(line)
