"""The task runner: ``make test`` is the README's test command, and every test tier has its target.

Read as text (a fresh machine may have no ``make``); the recipes are one line each.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TIERS = ("unit", "contract", "sdk", "local_service", "images", "e2e", "reliability")


def _targets() -> dict[str, tuple[str, str]]:
    """Target -> (its ``##`` help text, its recipe lines joined)."""
    text = (REPO / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    found = {}
    for match in re.finditer(r"^([a-z0-9-]+):[^\n#]*(?:## ([^\n]*))?\n((?:\t[^\n]*\n)*)", text, re.M):
        found[match[1]] = (match[2] or "", " ".join(line.strip() for line in match[3].splitlines()))
    return found


def test_make_test_is_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"Run the tests.*?```bash\n(.*?)\n```", readme, re.S)
    assert block, "the README's test command block was not found"
    *setup, command = block[1].splitlines()  # the system packages the tests need, then the test command
    assert _targets()["test"][1] == command
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert all(line in ci for line in [*setup, command]), "CI runs the README's lines as written"


def test_every_tier_has_a_target_and_every_target_says_what_it_does() -> None:
    targets = _targets()
    for tier in TIERS:
        assert (REPO / "tests" / tier).is_dir()
        assert f"tests/{tier}" in targets[f"test-{tier.replace('_', '-')}"][1], tier
    assert {path.name for path in (REPO / "tests").iterdir() if path.is_dir() and (path / "__init__.py").is_file()} \
        <= set(TIERS), "a new test tier needs a make target and a line in CONTRIBUTING.md"
    undocumented = [name for name, (doc, _) in targets.items() if not doc]
    assert not undocumented, f"targets without a '## ' help text: {undocumented}"
    phony = re.search(r"^\.PHONY:([^\n]*)", (REPO / "Makefile").read_text().replace("\\\n", " "), re.M)
    assert phony and set(phony[1].split()) == set(targets), "every target is .PHONY (none makes a file)"
