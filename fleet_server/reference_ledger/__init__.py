"""The built-in reference ledger: the Ledger port (fleet_server.ledger.port) on the server's
database, its administration (programmes, partners, cards, vouchers, categories, operations),
settlement batches, its tables and its HTTP face (http_app, the remote ledger's contract)."""
