"""The merchant's shop integration: orders, ingest API, API keys, signing, CSV import, webhooks."""
