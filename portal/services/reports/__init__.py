"""Reads for dashboards: how the after-sale service is doing, per shop or for the platform."""
