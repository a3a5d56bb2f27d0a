"""What the Keras subprocess tests share: reading a child process's ``RESULT`` line."""

from __future__ import annotations

import json
import subprocess

import pytest


def process_result(proc: subprocess.Popen, what: str, timeout: float) -> dict:
    """The JSON after the last ``RESULT `` line of ``proc``'s output; fails the test (naming
    ``what``) when the process times out, exits non-zero or prints no result."""
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"{what} did not finish in {timeout:.0f} s")
    lines = [ln for ln in stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"{what} failed:\n{stderr[-4000:]}"
    return json.loads(lines[-1][len("RESULT "):])
