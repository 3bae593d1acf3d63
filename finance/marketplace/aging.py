"""The periodic task that ages invoices: funded past due -> overdue, overdue past grace -> defaulted,
listed past due -> cancelled, fractional ones not sold by their funding deadline -> expired (claims
refunded), invoices not accepted in time -> expired, bids past validUntil -> refunded. Every server
process runs it; the script is idempotent, so concurrent runs only repeat work that finds nothing to do."""

from __future__ import annotations

import asyncio
import logging

from finance import metrics
from finance.connection import UNAVAILABLE_ERRORS
from finance.market import Market

log = logging.getLogger(__name__)


async def age_once(market: Market) -> dict[str, int]:
    """One pass; loops until a pass finds less than a full batch, so a backlog clears in one call."""
    total = {"overdue": 0, "defaulted": 0, "expired": 0, "unfilled": 0, "unaccepted": 0, "bidsExpired": 0}
    batch_max = 500
    while True:
        counts = (await market.scripts.age_invoices(now=market.clock.now(), batch_max=batch_max)).data()
        for name in total:
            total[name] += counts[name]
        if not counts["more"]:
            return total


async def run_forever(market: Market) -> None:
    interval = market.settings.aging_interval_seconds
    while True:
        try:
            counts = await age_once(market)
            if any(counts.values()):
                log.info("aged invoices: %s", counts)
        except UNAVAILABLE_ERRORS as error:
            log.warning("aging skipped, Redis unavailable: %s", error)
            metrics.redis_error("aging")
        await asyncio.sleep(interval)
