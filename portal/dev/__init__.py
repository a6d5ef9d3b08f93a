"""The development server and its demo data and gateway simulators (`refund-portal dev`)."""
