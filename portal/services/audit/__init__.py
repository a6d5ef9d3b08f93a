"""The tamper-evident audit trail: chaining events as they are written, sealing, verifying."""
