"""Ledger: the bookkeeping service."""
