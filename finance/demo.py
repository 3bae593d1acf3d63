"""seed-demo: a small market to click through: sellers, investors, buyers, listed and funded invoices, and
a partly sold fractional invoice per seller."""

from __future__ import annotations

from finance.auth import users
from finance.books import wallets
from finance.clock import iso_from_ms
from finance.market import Market
from finance.marketplace import invoices

DEMO_PASSWORD = "demo-password"
DAY_MS = 86_400_000


async def seed(market: Market, sellers: int = 3, investors: int = 3, buyers: int = 2,
               invoices_per_seller: int = 4) -> dict[str, object]:
    """Registers demo users (password ``demo-password``), funds wallets, lists and funds invoices."""
    tag = market.clock.now().epoch_ms
    made: dict[str, list[users.Session]] = {"seller": [], "investor": [], "buyer": []}
    for role, count in (("seller", sellers), ("investor", investors), ("buyer", buyers)):
        for n in range(count):
            session = await users.register(
                market, f"Demo {role.title()} {n + 1}", f"{role}{n + 1}.{tag}@demo.example", DEMO_PASSWORD, role,
                f"{role.title()} {n + 1} Pvt Ltd",
            )
            made[role].append(session)
    for session in made["investor"] + made["buyer"]:
        await wallets.deposit(market, session.user, 50_000_000_00)
    listed = funded = fractional = 0
    now_ms = market.clock.now().epoch_ms
    for s, seller in enumerate(made["seller"]):
        for n in range(invoices_per_seller):
            buyer = made["buyer"][(s + n) % len(made["buyer"])]
            face = (n + 1) * 2_50_000_00
            reply = await invoices.create(market, seller.user, invoices.NewInvoice(
                invoice_number=f"INV-{s + 1:02d}-{n + 1:04d}-{tag % 100000}", buyer_id=buyer.user.id,
                amount=face, ask_amount=face * 95 // 100, due_date=iso_from_ms(now_ms + (30 + 15 * n) * DAY_MS),
                description=f"Demo supply order {n + 1}",
            ))
            listed += 1
            if n % 2 == 1 and made["investor"]:
                investor = made["investor"][(s + n) % len(made["investor"])]
                invoice_id = reply.data()["invoice"]["id"]
                await invoices.fund(market, investor.user, invoice_id, face * 97 // 100)
                funded += 1
        # a fractional invoice per seller, partly sold: every investor holds a claim of two tickets
        face, ticket = 10_00_000_00, 1_00_000_00
        reply = await invoices.create(market, seller.user, invoices.NewInvoice(
            invoice_number=f"FRN-{s + 1:02d}-{tag % 100000}", buyer_id=made["buyer"][s % len(made["buyer"])].user.id,
            amount=face, ask_amount=face * 96 // 100, due_date=iso_from_ms(now_ms + 60 * DAY_MS),
            description="Demo fractional invoice", min_ticket=ticket,
        ))
        fractional += 1
        for investor in made["investor"]:
            await invoices.fund(market, investor.user, reply.data()["invoice"]["id"], claim=2 * ticket)
    return {
        "password": DEMO_PASSWORD,
        "users": {role: [s.user.email for s in sessions] for role, sessions in made.items()},
        "invoicesListed": listed,
        "invoicesFunded": funded,
        "fractionalListed": fractional,
    }
