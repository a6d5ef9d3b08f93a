"""Daily reconciliation (对账): each channel's bill for a Beijing day matched against the
payouts we hold as settled that day; the differences recorded, shown and resolved."""
