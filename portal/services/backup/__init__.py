"""Backups that restore: the database and the evidence files, with a manifest of hashes.

``refund-portal backup DIR`` writes a consistent copy of the database (SQLite's backup API,
or ``pg_dump`` in the same snapshot the evidence rows are read in), every evidence file those
rows name, and ``manifest.json`` with each file's SHA-256. ``refund-portal restore DIR`` checks
every hash before it writes anything, restores only into an empty database and an empty
evidence store, and leaves nothing behind if any step fails.
"""
