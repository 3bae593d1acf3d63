"""Generated ids: a readable prefix and 80 random bits, e.g. inv_3f9c0a1b2c3d4e5f6a7b."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def user_id() -> str:
    return new_id("usr")


def invoice_id() -> str:
    return new_id("inv")


def investment_id() -> str:
    return new_id("ivt")


def bid_id() -> str:
    return new_id("bid")
