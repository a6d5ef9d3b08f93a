"""RQ job functions (settlement, reminders, sweeps) and the worker entry point.

Jobs carry ids, never objects; each loads what it needs inside an app context
and is safe to run twice.
"""
