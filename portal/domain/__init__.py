"""Pure business rules: money, case states, eligibility, working-day calendar.

Nothing in this package imports Flask or the database session.
"""
