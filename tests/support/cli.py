"""The real ``agency`` command, run in a child process with a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def clean_env(**agency: str) -> dict[str, str]:
    """This process's environment without any ``AGENCY_*`` variable, plus ``agency``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCY_")}
    return {**env, **agency}


def run_agency(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agency", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
