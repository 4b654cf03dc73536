"""The ledger port (port.py) and its administration (admin_port.py), what both sides of them
speak of (statuses.py, views.py, exports.py), and the HTTP client of a remote ledger. The
built-in reference ledger is its own package, fleet_server.reference_ledger, which imports this
one and never the other way round."""
