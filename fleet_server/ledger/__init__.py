"""The ledger port and its adapters: the built-in reference ledger and an HTTP client."""
