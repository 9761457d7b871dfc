"""docs/contract.md against the code: every section the code cites exists, and every module and test it (and
CONTRIBUTING.md) names exists.

Code cites the contract as ``CONTRACT.md §2.5, A4`` (the design notes the facts were gathered in) or
``docs/contract.md §2.5``: both resolve into docs/contract.md, which keeps the same section numbers. Part A decisions
are ``A1``... (also written "part A §1"), part B sections ``§1.1``..., ranges as ``§1.7-1.9``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONTRACT = REPO / "docs" / "contract.md"
CITING = ("containers", "sdk", "examples", "tests", "docs", "bench")
SUFFIXES = {".py", ".md", ".ipynb", ".yml", ".toml", ""}
CITATION = re.compile(r"(?:(?:docs/)?contract\.md\)?|CONTRACT(?:\.md)?)\s*(?=([^)]{0,80}))")
SECTION = re.compile(r"(part [AB] )?§\s?(\d+(?:\.\d+)?)(?:\s?[-–]\s?(\d+(?:\.\d+)?))?")
DECISION = re.compile(r"\bA(\d+)\b")


def _sources() -> list[Path]:
    files = []
    for top in CITING:
        for path in sorted((REPO / top).rglob("*")):
            if path.is_file() and path.suffix in SUFFIXES and ".venv" not in path.parts and path != CONTRACT:
                files.append(path)
    return files


def _cited() -> dict[str, set[str]]:
    """Cited section -> the files citing it; sections are ``§1.1`` or ``A7``."""
    found: dict[str, set[str]] = {}
    for path in _sources():
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in CITATION.finditer(text):
            tail, where = match.group(1), str(path.relative_to(REPO))
            for part, first, last in SECTION.findall(tail):
                if part == "part A ":
                    found.setdefault(f"A{first}", set()).add(where)
                    continue
                numbers = [first]
                if last:  # §1.7-1.9 -> 1.7, 1.8, 1.9 (same major section)
                    major, lo = first.split(".") if "." in first else (first, "0")
                    hi = last.split(".")[-1]
                    numbers = [f"{major}.{n}" for n in range(int(lo), int(hi) + 1)]
                for number in numbers:
                    found.setdefault(f"§{number}", set()).add(where)
            for number in DECISION.findall(tail):
                found.setdefault(f"A{number}", set()).add(where)
    return found


def _defined() -> set[str]:
    text = CONTRACT.read_text(encoding="utf-8")
    part_a = text.split("## Part A", 1)[1].split("## Part B", 1)[0]
    sections = {f"A{n}" for n in re.findall(r"^(\d+)\. ", part_a, flags=re.M)}
    sections |= {f"§{n}" for n in re.findall(r"^##+ (\d+(?:\.\d+)?)\.? ", text, flags=re.M)}
    return sections


def test_the_citations_are_found() -> None:
    cited = _cited()
    # A few known citations, so a broken pattern cannot make the next test pass on nothing.
    assert {"§1.1", "§1.9", "§3.3", "§4", "§5.3", "A1", "A9"} <= set(cited), sorted(cited)


def test_every_cited_section_exists_in_docs_contract() -> None:
    defined = _defined()
    assert {"A1", "A10", "§0", "§1.9", "§6"} <= defined
    missing = {section: sorted(files) for section, files in _cited().items() if section not in defined}
    assert not missing, f"cited but not in docs/contract.md: {missing}"


def _module_file(name: str) -> Path | None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    top, _, rest = name.partition(".")
    if top not in config:
        return None
    base = REPO / config[top] / Path(*rest.split(".")) if rest else REPO / config[top]
    return base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"


def _exists(name: str) -> bool:
    """A module of the packages, or a function, class or constant defined in one (``module.name``)."""
    path = _module_file(name)
    if path is not None and path.is_file():
        return True
    module, _, attribute = name.rpartition(".")
    path = _module_file(module) if module else None
    return bool(path and path.is_file() and re.search(rf"^(?:def|class) {attribute}\b|^{attribute}\b.*=",
                                                      path.read_text(encoding="utf-8"), re.M))


@pytest.mark.parametrize(("page", "least_modules", "least_tests"),
                         [("docs/contract.md", 30, 100), ("CONTRIBUTING.md", 5, 5)])
def test_every_module_and_test_the_page_names_exists(page: str, least_modules: int, least_tests: int) -> None:
    text = (REPO / page).read_text(encoding="utf-8")
    modules = set(re.findall(r"`((?:container_core|ntm_container|knn_container|opensagemaker|recommender)"
                             r"(?:\.[a-z_]+)*)", text))
    assert len(modules) >= least_modules
    missing = sorted(name for name in modules if not name.endswith(".x") and not _exists(name))
    assert not missing, f"{page} names modules that do not exist: {missing}"

    # Tests are named as `tests/<tier>/<file>.py::<test>` in the prose, `<tier>/<file>.py` in the module map, and a
    # bare `::<test>` continues the file named last before it.
    checked, broken, last = 0, [], None
    for token in re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S)):
        named = re.fullmatch(r"(?:tests/)?((?:unit|contract|sdk|e2e|reliability)/test_\w+\.py)(?:::(\w+))?", token)
        more = re.fullmatch(r"::(\w+)", token)
        if named:
            last, test = named.group(1), named.group(2)
            if not (REPO / "tests" / last).is_file():
                broken.append(last)
                last = None
                continue
        elif more and last:
            test = more.group(1)
        else:
            continue
        checked += 1
        if test and not re.search(rf"^def {test}\(", (REPO / "tests" / last).read_text(encoding="utf-8"), re.M):
            broken.append(f"{last}::{test}")
    assert checked >= least_tests
    assert not broken, f"{page} names tests that do not exist: {sorted(set(broken))}"


def test_no_citation_points_outside_the_repository() -> None:
    here = Path(__file__).resolve()
    outside = sorted(str(path.relative_to(REPO)) for path in _sources() if path.resolve() != here
                     and re.search(r"(?<!docs/)CONTRACT(?:\.md)?\b", path.read_text(encoding="utf-8", errors="replace")))
    assert not outside, f"cite docs/contract.md instead of CONTRACT.md in: {outside}"
