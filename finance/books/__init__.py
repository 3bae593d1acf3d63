"""The books: money rules, wallets, the ledger check."""
