"""vigil caps its malloc arenas, unless MALLOC_ARENA_MAX is set (which then wins)."""

from __future__ import annotations

import os
import subprocess
import sys

CHECK = "from vigil.malloc import limit_arenas; print(limit_arenas())"


def run(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_arenas_are_capped_on_glibc_and_the_environment_wins() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert run(env) == "True"  # this machine's C library is glibc
    assert run(env | {"MALLOC_ARENA_MAX": "4"}) == "False"  # glibc read it; left alone
