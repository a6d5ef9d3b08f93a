"""WeChat Pay API v3 payout channel for refund-portal, with a local gateway simulator.

The channel lives in :mod:`refund_portal_wechat.channel`, the pluggy hook in
:mod:`refund_portal_wechat.plugin`, the protocol primitives (signatures,
AES-256-GCM) in :mod:`refund_portal_wechat.crypto` and the simulator in
:mod:`refund_portal_wechat.simulator`.
"""

from __future__ import annotations

__version__ = "0.1.0"
