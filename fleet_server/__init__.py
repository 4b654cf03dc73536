# The fleet server: device registry, debit forwarding to the ledger, settlement, support desk.
