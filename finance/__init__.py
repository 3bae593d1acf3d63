"""Domain of the invoice financing market: users, wallets, invoices, funding, repayment, stats.

Nothing in this package imports Quart except ``finance.api``, the HTTP blueprints.
"""
