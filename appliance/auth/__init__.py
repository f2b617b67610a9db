"""Accounts: password hashing, login throttling, sessions with sliding expiry.

Used by the API (log in, check a token) and by the CLI (`appliance init`, `appliance users`).
"""
