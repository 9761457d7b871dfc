"""AWS's own SageMaker Python SDKs, installed unmodified from PyPI (``tests.aws_sdks``), against the local service
with nothing but the environment ``python -m opensagemaker.local env`` prints."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.aws_sdks import aws_sdk_python

SCRIPTS = Path(__file__).parent / "scripts"


def run_script(generation: str, script: str, service, tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPENSAGEMAKER_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(service.proxy_environment())
    env["SAGEMAKER_SUPPRESS_V2_WARNING"] = "1"
    result = subprocess.run([str(aws_sdk_python(generation)), str(SCRIPTS / script)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    output = result.stdout + result.stderr
    assert "#quality_metric: host=algo-2" in output  # the job's log was streamed from CloudWatch Logs
    (report,) = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    return json.loads(report.removeprefix("REPORT "))


@pytest.mark.slow
def test_sdk_v2_ntm_and_knn_end_to_end(service, tmp_path: Path) -> None:
    report = run_script("v2", "sdk_v2_flow.py", service, tmp_path)
    assert report["role"] == "arn:aws:iam::000000000000:role/opensagemaker-local"  # STS + IAM through the proxy
    assert report["bucket"] == "sagemaker-us-east-1-000000000000"
    assert report["status"] == "Completed" and report["instances"] == 2
    assert report["channels"] == {"train": "ShardedByS3Key", "validation": "FullyReplicated",
                                  "auxiliary": "FullyReplicated"}
    assert "validation:total_loss" in report["metrics"]
    assert report["topic_sums"] == pytest.approx([1.0] * 3, abs=1e-3)
    assert report["batch_rows"] == 10
    for row in report["verbose"]:
        assert set(row) == {"predicted_label", "distances", "labels"} and len(row["distances"]) == 3
        assert row["distances"] == sorted(row["distances"]) and row["distances"][0] == 0.0  # its own row
    assert report["endpoints_left"] == []


@pytest.mark.slow
def test_sdk_v3_ntm_and_knn_end_to_end(service, tmp_path: Path) -> None:
    report = run_script("v3", "sdk_v3_flow.py", service, tmp_path)
    assert report["role"] == "arn:aws:iam::000000000000:role/opensagemaker-local"
    assert report["bucket"] == "sagemaker-us-east-1-000000000000"
    assert report["status"] == "Completed" and report["instances"] == 2
    assert report["channels"] == {"train": "ShardedByS3Key", "validation": "FullyReplicated",
                                  "auxiliary": "FullyReplicated"}
    assert report["topic_sums"] == pytest.approx([1.0] * 3, abs=1e-3)
    assert report["batch_rows"] == 10
    for row in report["verbose"]:
        assert set(row) == {"predicted_label", "distances", "labels"} and len(row["distances"]) == 3
        assert row["distances"] == sorted(row["distances"]) and row["distances"][0] == 0.0
    assert report["endpoints_left"] == []
