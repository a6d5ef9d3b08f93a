"""Notices to buyers, merchants and staff, and their delivery through notifier plugins."""
