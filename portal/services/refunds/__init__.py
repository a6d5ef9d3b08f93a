"""Refund cases: applying, transitions of a case, cancellations, timelines, disputes and tickets."""
