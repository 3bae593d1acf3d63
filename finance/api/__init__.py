"""HTTP API: the blueprints, and the only part of ``finance`` that imports Quart."""

from __future__ import annotations

from quart import Quart

from finance.api import auth, bids, health, invoices, notifications, users, wallet, web
from finance.api.errors import register_error_handlers
from finance.api.http import InvoiceIdConverter


def register(app: Quart) -> None:
    app.url_map.converters["invoice_id"] = InvoiceIdConverter
    for module in (auth, users, notifications, wallet, invoices, bids, health, web):
        app.register_blueprint(module.blueprint)
    register_error_handlers(app)
