"""The pluggy markers of the plugin contract: ``hookspec`` for the core, ``hookimpl`` for plugins.

Plugin authors import the implementation marker as ``from portal import hookimpl``; this
module imports nothing but pluggy, so that import stays light.
"""

from __future__ import annotations

import pluggy

#: the pluggy project name, also the entry-point group plugins are found in
PROJECT = "refund_portal"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
