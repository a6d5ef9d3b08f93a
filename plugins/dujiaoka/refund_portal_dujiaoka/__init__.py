"""refund-portal order source for the dujiaoka card shop (read-only)."""
