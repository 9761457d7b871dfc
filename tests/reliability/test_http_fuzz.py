"""HTTP fuzz of a real served NTM and k-NN model over loopback: 10,000 seeded malformed requests per container,
across content types, parameters, Accept headers, methods and sizes (up to several times the payload limit,
with and without Content-Length), plus raw-socket requests with broken HTTP framing (bad or conflicting
Content-Length, bad chunking, huge headers, a TLS hello, bodies cut short) -> only 2xx / 4xx, never a 5xx, no dropped connection, the same server process
alive and ``/ping`` healthy afterwards, and no traceback in the server log.

The payload limit is set to 64 KB (``SAGEMAKER_MAX_PAYLOAD_IN_MB=0.0625``) so over-limit bodies are cheap to send.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import OptML
from tests.reliability.conftest import DIMS, serve
from tests.reliability.fuzz_requests import RAW_REQUESTS, RequestGenerator, run, send_raw

REQUESTS = 10_000
CONCURRENCY = 8
LIMIT_MB = 0.0625


@pytest.mark.parametrize("algorithm", ["ntm", "knn"])
def test_malformed_requests_never_get_a_5xx(models: dict[str, OptML], tmp_path: Path, algorithm: str) -> None:
    server = serve(models, algorithm, tmp_path / "serve.log", SAGEMAKER_MAX_PAYLOAD_IN_MB=str(LIMIT_MB))
    try:
        generator = RequestGenerator(seed=20240601 + len(algorithm), feature_dim=DIMS[algorithm],
                                     limit=int(LIMIT_MB * 1024 * 1024))
        requests = [generator.request() for _ in range(REQUESTS)]
        outcome = run(server.url, requests, CONCURRENCY)
        raw_statuses = [send_raw(server.port, data)[:12] for data in RAW_REQUESTS]  # broken HTTP framing
        ping = server.client.get("/ping")
        summary = (f"{algorithm}: {REQUESTS} requests in {outcome.seconds:.1f} s "
                   f"({REQUESTS / outcome.seconds:.0f}/s), statuses {dict(sorted(outcome.statuses.items()))}, "
                   f"transport errors {dict(outcome.errors)}")
        print(summary)
        assert sum(outcome.statuses.values()) + sum(outcome.errors.values()) == REQUESTS
        assert not outcome.errors, summary
        assert all(200 <= status < 500 for status in outcome.statuses), (summary, outcome.examples)
        assert outcome.statuses[200] > 500 and outcome.statuses[400] > 500 and outcome.statuses[413] > 100, summary
        assert outcome.statuses[415] > 100 and outcome.statuses[406] > 100, summary
        for data, answer in zip(RAW_REQUESTS, raw_statuses, strict=True):  # a 4xx, or closed with no answer
            assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), (data[:80], answer)
        assert sum(answer.startswith(b"HTTP/1.1 4") for answer in raw_statuses) >= 10, raw_statuses
        assert ping.status_code == 200 and server.process.poll() is None
        log = server.log()
        assert "Traceback" not in log and "invocation failed" not in log, log[-3000:]
    finally:
        server.stop()
