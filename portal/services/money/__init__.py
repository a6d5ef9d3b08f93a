"""Money going out: payouts, settlement with the gateways, the ledger, bank batches."""
