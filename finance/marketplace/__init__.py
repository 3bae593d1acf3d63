"""The marketplace: invoices, auctions, exposure limits, aging, dashboards."""
