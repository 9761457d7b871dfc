"""Load: 20,000 valid requests at concurrency 16 against a served NTM and k-NN model over loopback -> zero errors,
and the resident memory of the server (its pid and children, psutil) grows less than 10% between the end of a
1,000-request warm-up and the end of the run. The mix is the tutorial's single-row CSV plus multi-row JSON, JSON
lines and RecordIO bodies with every Accept type."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import psutil
import pytest

from tests.conftest import OptML
from tests.reliability.conftest import DIMS, serve
from tests.reliability.fuzz_requests import ACCEPTS, Request, _csv, _json, _recordio, run

WARM_UP = 1_000
REQUESTS = 20_000
CONCURRENCY = 16


def valid_requests(count: int, feature_dim: int, seed: int) -> list[Request]:
    rng = np.random.default_rng(seed)
    accepts = [a for a in ACCEPTS[:7] if a not in ("*/*", "text/html")] + [None]
    requests: list[Request] = []
    for number in range(count):
        rows = rng.integers(0, 3, size=(1 if number % 4 else 8, feature_dim)).astype(np.float32)
        kind = number % 8
        if kind < 5:
            content_type, body = "text/csv", _csv(rows)
        elif kind == 5:
            content_type, body = "application/json", _json(rows, sparse=bool(number % 3))
        elif kind == 6:
            content_type = "application/jsonlines"
            body = b"\n".join(json.dumps(r.tolist()).encode() for r in rows)
        else:
            content_type, body = "application/x-recordio-protobuf", _recordio(rows, sparse=bool(number % 3))
        headers = {"Content-Type": content_type}
        accept = accepts[number % len(accepts)]
        if accept is not None:
            headers["Accept"] = accept
        requests.append(("POST", "/invocations", headers, body))
    return requests


def resident_bytes(pid: int) -> int:
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["ntm", "knn"])
def test_sustained_load_has_no_errors_and_no_memory_growth(models: dict[str, OptML], tmp_path: Path,
                                                           algorithm: str) -> None:
    server = serve(models, algorithm, tmp_path / "serve.log")
    try:
        warm = run(server.url, valid_requests(WARM_UP, DIMS[algorithm], seed=1), CONCURRENCY)
        assert warm.statuses == {200: WARM_UP} and not warm.errors, warm
        before = resident_bytes(server.process.pid)
        outcome = run(server.url, valid_requests(REQUESTS, DIMS[algorithm], seed=2), CONCURRENCY)
        after = resident_bytes(server.process.pid)
        growth = (after - before) / before
        print(f"{algorithm}: {REQUESTS} requests at concurrency {CONCURRENCY} in {outcome.seconds:.1f} s "
              f"({REQUESTS / outcome.seconds:.0f}/s), statuses {dict(outcome.statuses)}, errors {dict(outcome.errors)}, "
              f"RSS {before / 2**20:.1f} -> {after / 2**20:.1f} MiB ({growth:+.1%})")
        assert outcome.statuses == {200: REQUESTS} and not outcome.errors, outcome
        assert growth < 0.10
        assert server.client.get("/ping").status_code == 200
    finally:
        server.stop()
