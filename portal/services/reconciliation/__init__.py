"""Daily reconciliation (对账): each channel's bill for a Beijing day matched against our
payouts of that day (settled that day; for the bank, sent in the batch due that day); the
differences recorded, shown and resolved."""
