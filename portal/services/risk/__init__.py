"""Risk control: the signals of a case, the operator's rules, the watch list, the fast lane."""
