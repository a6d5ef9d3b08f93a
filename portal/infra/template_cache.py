"""Compiled templates kept on disk, so that a worker loads each page's template code instead
of compiling it from source.

Jinja turns a template into Python source and compiles it the first time the template is
rendered. Compiling leaves the worker's heap larger than the code it produced, in every
worker, after every restart. Jinja's ``FileSystemBytecodeCache`` keeps the compiled code per
template, keyed by name and checked against a checksum of the source, so an edited template is
compiled again, and writes each file under a temporary name before renaming it (workers that
compile the same template at once do not read half a file). A cache that cannot be written
(a full disk, a folder made read-only) costs the compile, never the page.
"""

from __future__ import annotations

import logging
import os

from flask import Flask
from jinja2 import FileSystemBytecodeCache
from jinja2.bccache import Bucket

log = logging.getLogger(__name__)


class TemplateCache(FileSystemBytecodeCache):
    """Jinja's file cache, which logs a failed read or write instead of failing the page."""

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except OSError as exc:  # left empty: the template is compiled
            log.warning("compiled template not read from %s: %s", self.directory, exc)

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError as exc:
            log.warning("compiled template not kept in %s: %s", self.directory, exc)


def directory(app: Flask) -> str | None:
    """Where compiled templates are kept (``TEMPLATE_CACHE_DIR``, else the instance folder's
    ``template-cache``); None when set to "" (not kept)."""
    configured = app.config.get("TEMPLATE_CACHE_DIR")
    if configured == "":
        return None
    return str(configured or os.path.join(app.instance_path, "template-cache"))


def install(app: Flask) -> None:
    """Keep ``app``'s compiled templates in ``directory(app)`` (made owner-only if new)."""
    folder = directory(app)
    if folder is None:
        return
    os.makedirs(folder, mode=0o700, exist_ok=True)
    app.jinja_env.bytecode_cache = TemplateCache(folder)
