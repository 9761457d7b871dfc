"""The README's table of SDK v1 / v2 names says what the code has: every name of a supported row resolves under the
switch, and every name of an unsupported row does not.

A cell's names are its backticked ``sagemaker.*`` paths; a bare name after one (``download_data`` after
``sagemaker.Session.upload_data``) is its sibling; words in parentheses are keyword arguments and are left out.
Names are resolved in a fresh interpreter after ``import opensagemaker.as_sagemaker``: the module part is imported,
the rest looked up with ``getattr``, on an instance when the class itself does not have it (instance attributes).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.conftest import REPO

RESOLVE = r'''
import importlib, json, sys
import opensagemaker.as_sagemaker
import sagemaker
session = sagemaker.Session()
instances = {
    sagemaker.Session: session,
    sagemaker.estimator.Estimator: sagemaker.estimator.Estimator("ntm", "role", instance_count=1,
                                                                 instance_type="local", sagemaker_session=session),
    sagemaker.predictor.RealTimePredictor: sagemaker.predictor.RealTimePredictor("e", session),
    sagemaker.predictor.Predictor: sagemaker.predictor.Predictor("e", session),
}

MISSING = object()

def resolves(name):
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            owner = obj
            obj = getattr(owner, part, MISSING)
            if obj is MISSING and owner in instances:
                obj = getattr(instances[owner], part, MISSING)
            if obj is MISSING:
                return False
        return True
    return False

print(json.dumps({name: resolves(name) for name in json.loads(sys.argv[1])}))
'''


def table_rows() -> list[tuple[list[str], str]]:
    text = (REPO / "README.md").read_text()
    section = text.split("## SDK v1 and v2 names", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("v1 name", "---"):
            continue
        names: list[str] = []
        for cell in cells[:2]:
            cell = re.sub(r"\([^)]*\)", "", cell)
            if cell == "the same":
                continue
            last = None
            for token in re.findall(r"`([^`]+)`", cell):
                if token.startswith("sagemaker."):
                    last = token
                elif last is not None:
                    token = last.rsplit(".", 1)[0] + "." + token
                else:
                    continue
                names.append(token)
        rows.append((names, cells[2]))
    return rows


def test_the_names_table_matches_the_code(sdk_env, session) -> None:
    rows = table_rows()
    assert len(rows) >= 25
    names = sorted({name for row_names, _ in rows for name in row_names})
    result = subprocess.run([sys.executable, "-c", RESOLVE, json.dumps(names)], capture_output=True, text=True,
                            timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    resolved = json.loads(result.stdout.strip().splitlines()[-1])
    for row_names, supported in rows:
        expected = not supported.startswith("no")
        assert row_names, supported
        for name in row_names:
            assert resolved[name] is expected, (name, supported)
