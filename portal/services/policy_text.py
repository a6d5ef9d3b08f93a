"""The gettext marker for messages defined outside templates (extracted by Babel as ``N_``)."""

from portal.domain.policy import N_

__all__ = ["N_"]
