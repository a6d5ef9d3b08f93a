"""The no-op job: the ceiling a settlement job is measured against."""


def noop(i: int) -> int:
    """Do nothing (but take an argument, like a real job)."""
    return i
