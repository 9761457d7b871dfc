"""`.ci/run` runs what the README tells users to run: its test setup and its test command, verbatim."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def readme_test_block() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text[text.index("Run the tests (what CI runs, `.ci/run`)"):]
    block = re.search(r"```bash\n(.*?)```", section, re.S)[1]
    return [line for line in block.splitlines() if line.strip()]


def test_ci_runs_the_readme_test_commands() -> None:
    commands = readme_test_block()
    assert commands == ["scripts/install-system-deps", "ruff check . && python -m pytest -q"]
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    for command in commands:
        assert command in ci, f".ci/run does not run the README's {command!r}"
    assert ci.index(commands[0]) < ci.index(commands[1])


def test_install_system_deps_names_the_packages_the_tests_need() -> None:
    script = REPO / "scripts" / "install-system-deps"
    assert script.stat().st_mode & 0o111, "scripts/install-system-deps is not executable"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    for package in ("podman", "runc", "debootstrap", "chromium"):
        assert re.search(rf"\bpackages=\(.*\b{package}\b.*\)", script.read_text()), package
