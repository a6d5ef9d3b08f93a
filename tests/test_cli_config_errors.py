"""The command line explains a configuration the portal refuses, without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "FLASK_"))}
    env["PORTAL_INSTANCE_PATH"] = str(tmp_path)
    cli = Path(sys.executable).with_name("refund-portal")
    return subprocess.run(
        [str(cli), *args], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )


def test_help_without_a_secret_key_names_the_setting_and_shows_no_traceback(
    tmp_path: Path,
) -> None:
    result = _run(["--help"], tmp_path)
    assert "Traceback" not in result.stderr
    assert "PORTAL_SECRET_KEY" in result.stderr
    assert "init-db" not in result.stdout  # the portal's commands need a configured app


def test_a_command_without_a_secret_key_fails_with_the_reason(tmp_path: Path) -> None:
    result = _run(["init-db"], tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "PORTAL_SECRET_KEY" in result.stderr
