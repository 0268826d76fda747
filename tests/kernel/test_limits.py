"""A worker raises its soft limit of open files to what its connections need."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

SCRIPT = """
import resource, sys
from agency.kernel.limits import raise_open_files
print(raise_open_files(int(sys.argv[1])), resource.getrlimit(resource.RLIMIT_NOFILE)[0])
"""


def run_with_soft_limit(soft: int, connections: int) -> tuple[int, int]:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(connections)],
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)),
        capture_output=True,
        text=True,
        check=True,
    )
    returned, now = done.stdout.split()
    return int(returned), int(now)


def test_a_low_soft_limit_is_raised_to_the_connections_and_a_margin() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 1024 + 256:
        pytest.fail(f"this machine's hard limit of open files ({hard}) is below the test's need")
    assert run_with_soft_limit(512, 1024) == (1024 + 256, 1024 + 256)


def test_a_high_enough_soft_limit_is_left_as_it_is() -> None:
    assert run_with_soft_limit(4096, 1024) == (4096, 4096)
