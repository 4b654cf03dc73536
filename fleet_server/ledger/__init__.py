"""The ledger port, and the HTTP client of a remote ledger. The built-in reference ledger is
its own package: fleet_server.reference_ledger."""
