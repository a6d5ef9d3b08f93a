"""An example supplier-check plugin: asks a card supplier's HTTP API whether a code was
redeemed (the ``check_supplier_redemption`` hook), with a simulator of that API."""

__version__ = "0.1.0"
