"""A tiny shop: inventory, prices and receipts."""
