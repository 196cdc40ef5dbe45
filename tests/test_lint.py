"""Lint and format: the code passes ruff's checks with the project's settings (pyproject.toml).

A violation fails the test command, and so CI; ``ruff check --fix .`` and
``ruff format .`` repair most of them. Skipped where ruff is not installed
(it comes with the ``test`` extra).
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff():
    exe = Path(sys.executable).with_name("ruff")
    found = str(exe) if exe.exists() else shutil.which("ruff")
    if found is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    return found


def _run(*args, cwd=ROOT):
    return subprocess.run([_ruff(), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_ruff_check_passes():
    result = _run("check", "--no-cache", ".")
    assert result.returncode == 0, f"ruff check found problems:\n{result.stdout}{result.stderr}"


def test_ruff_format_is_applied():
    result = _run("format", "--check", "--no-cache", ".")
    assert result.returncode == 0, f"files need 'ruff format':\n{result.stdout}{result.stderr}"


def test_lint_catches_a_violation(tmp_path):
    """The checks are live: an unused import and a misformatted line are reported with the project's settings."""
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    pkg = tmp_path / "hsiae"
    pkg.mkdir()
    (pkg / "bad.py").write_text('"""A module."""\n\nimport os\nx = {  "a":1}\n')
    check = _run("check", "--no-cache", ".", cwd=tmp_path)
    assert check.returncode == 1 and "F401" in check.stdout, check.stdout
    fmt = _run("format", "--check", "--no-cache", ".", cwd=tmp_path)
    assert fmt.returncode == 1 and "bad.py" in fmt.stdout, fmt.stdout
