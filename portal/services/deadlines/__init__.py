"""Working-day deadlines: the rules that fire when a case or payout is late, and the sweep."""
