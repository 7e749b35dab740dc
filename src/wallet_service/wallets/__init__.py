"""Wallets: opening, reading, listing and changing status."""
