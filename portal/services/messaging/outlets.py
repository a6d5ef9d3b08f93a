"""Where notices can go beyond the inbox: SMTP, or a configured notifier plugin.

Kept apart from ``delivery`` (which sends, and is run by jobs) so that the web process, which
only asks whether a delivery job is worth enqueueing, does not load the mail machinery.
"""

from __future__ import annotations

from portal.plugins.settings import declared_settings
from portal.services import context


def has_external_channels() -> bool:
    """Whether notices go anywhere outside the inbox: SMTP, or a third party's notifier plugin
    whose required settings are all set (an installed but unconfigured SMS plugin is not)."""
    if context.setting("MAIL_SERVER", None):
        return True
    pm = context.plugin_manager()
    missing = {
        plugin
        for plugin, setting in declared_settings(pm)
        if setting.required and context.setting(setting.name, None) in (None, "")
    }
    return any(
        impl.plugin_name not in missing and impl.plugin_name != "portal.log-notifier"
        for impl in pm.hook.send_notice.get_hookimpls()
    )
