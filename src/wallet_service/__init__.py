"""Wallet & Budget Service: wallets, a ledger of credits and debits, budgets and their events."""

__version__ = "0.1.0"
