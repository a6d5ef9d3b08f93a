"""``refund-portal new-plugin NAME``: write a payout channel plugin package from the templates.

The templates live in ``portal/plugins/skeleton`` (package data); ``${placeholders}`` in
them are filled with the names derived from NAME.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,29}$")
#: template file -> output path (``{package}``, ``{channel_id}`` filled in)
FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "package/__init__.py.tmpl": "{package}/__init__.py",
    "package/channel.py.tmpl": "{package}/channel.py",
    "package/plugin.py.tmpl": "{package}/plugin.py",
    "tests/test_conformance.py.tmpl": "tests/test_{channel_id}_conformance.py",
}


class TemplateError(ValueError):
    """NAME or the target directory is not usable; nothing was written."""


@dataclass(frozen=True)
class Names:
    """The names a plugin called NAME gets."""

    channel_id: str
    package: str
    distribution: str
    class_name: str
    prefix: str
    label: str

    @classmethod
    def for_name(cls, name: str, label: str | None = None) -> Names:
        """Derive every name from NAME; TemplateError if NAME is not a valid channel id."""
        if not NAME_RE.match(name):
            raise TemplateError(
                f"plugin name {name!r}: use 2-30 lower-case letters, digits or _, "
                "starting with a letter (it becomes the channel id)"
            )
        return cls(
            channel_id=name,
            package=f"refund_portal_{name}",
            distribution=f"refund-portal-{name.replace('_', '-')}",
            class_name="".join(part.capitalize() for part in name.split("_")),
            prefix=name.upper(),
            label=label or name.replace("_", " ").title(),
        )


def generate(name: str, directory: Path, label: str | None = None) -> list[Path]:
    """Write the plugin package into ``directory`` (new or empty); return the files written."""
    names = Names.for_name(name, label)
    if directory.exists() and any(directory.iterdir()):
        raise TemplateError(f"{directory} is not empty; choose a new directory")
    root = resources.files("portal.plugins") / "skeleton"
    values = vars(names)
    outputs: list[tuple[Path, str]] = []
    for template, target in FILES.items():
        text = Template((root / template).read_text(encoding="utf-8")).substitute(values)
        outputs.append((directory / target.format(**values), text))
    written = []
    for path, text in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
