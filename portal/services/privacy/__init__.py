"""Buyers' personal data by the minimum: legal holds, erasure (by retention or on request)
with its receipt in the audit chain, the buyer's own export, and buyers' erasure requests."""
