"""What the local SageMaker service adds, against talking to the model server and the processes directly.

    python bench/local_service.py [--requests 2000] [--batches 60]

One run, in a temporary folder: an NTM model is trained through the service (20 Newsgroups-sized vocabulary of
synthetic counts, 2 epochs) and deployed; then, in the same run:

- InvokeEndpoint, single row: p50 / p90 latency of ``POST /endpoints/<name>/invocations`` on the service vs
  ``POST /invocations`` on the endpoint's model server, the same keep-alive ``http.client`` connection type for
  both (so the client's own cost is the same), alternating the two request by request. boto3's
  ``invoke_endpoint`` through the service is shown too: that is what a notebook pays, signing and parsing included.
- InvokeEndpoint, 1,000-row CSV requests: requests/s through the service vs direct.
- CreateEndpoint -> InService (DescribeEndpoint polled every 50 ms) vs ``ModelServer.start`` of the same model in
  this process (download, extract, start, first ``/ping``).
- CreateTrainingJob -> the host's first log line (GetLogEvents polled every 50 ms) vs ``LocalTrainingJob.run``
  of the same request in this process, to the host's first output line.

Each table prints the machine's load average: the ratios, not the absolute figures, are what to compare.
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROLE = "arn:aws:iam::000000000000:role/opensagemaker-local"
IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/ntm:1"
VOCAB = 2000
POLL = 0.05  # seconds between Describe / GetLogEvents calls: a tight loop of them would load the service it measures


def csv_rows(rows: np.ndarray) -> bytes:
    out = io.StringIO()
    np.savetxt(out, rows, delimiter=",", fmt="%g")
    return out.getvalue().encode()


def post(connection: http.client.HTTPConnection, path: str, body: bytes) -> float:
    start = time.perf_counter()
    connection.request("POST", path, body=body, headers={"Content-Type": "text/csv"})
    response = connection.getresponse()
    response.read()
    elapsed = time.perf_counter() - start
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}")
    return elapsed


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def training_request_args(name: str, bucket: str) -> dict:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "HyperParameters": {"num_topics": "5", "feature_dim": str(VOCAB), "mini_batch_size": "64", "epochs": "2"},
        "InputDataConfig": [{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/bench/train", "S3DataDistributionType": "FullyReplicated"}}}],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/bench/output"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.c4.xlarge", "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }


def first_log_line_via_service(service, name: str, bucket: str) -> float:
    sagemaker, logs = service.client("sagemaker"), service.client("logs")
    start = time.perf_counter()
    sagemaker.create_training_job(**training_request_args(name, bucket))
    while True:
        try:
            streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                                logStreamNamePrefix=name + "/")["logStreams"]
        except logs.exceptions.ResourceNotFoundException:
            streams = []
        for stream in streams:
            events = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                         logStreamName=stream["logStreamName"], startFromHead=True)["events"]
            if any(e["message"].startswith("[") for e in events):  # the container's own first line
                return time.perf_counter() - start
        time.sleep(POLL)


def first_log_line_direct(store, name: str, bucket: str) -> float:
    from opensagemaker.backends.base import ChannelRequest, TrainingJobRequest
    from opensagemaker.backends.local_training import LocalTrainingJob

    args = training_request_args(name, bucket)
    request = TrainingJobRequest(
        job_name=name, image_uri=IMAGE, role=ROLE, instance_count=1, instance_type="ml.c4.xlarge",
        output_path=args["OutputDataConfig"]["S3OutputPath"], hyperparameters=args["HyperParameters"],
        channels=(ChannelRequest("train", f"s3://{bucket}/bench/train", content_type="text/csv"),))
    job = LocalTrainingJob(request, store.client, store.environment(), "us-east-1")
    start = time.perf_counter()
    thread = threading.Thread(target=job.run, daemon=True)
    thread.start()
    for line in job.logs.follow():
        if "| [" in line:
            elapsed = time.perf_counter() - start
            break
    job.done.wait()
    thread.join()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="single-row requests per side")
    parser.add_argument("--batches", type=int, default=60, help="1,000-row requests per side")
    parser.add_argument("--repeats", type=int, default=3, help="timings of endpoint start and first log line")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-local-service-"))
    os.environ["OPENSAGEMAKER_STORE_DIR"] = str(root / "store")
    os.environ["OPENSAGEMAKER_WORK_DIR"] = str(root / "work")
    from opensagemaker.backends.base import ModelRequest
    from opensagemaker.backends.local_endpoints import ModelServer
    from opensagemaker.local_service import LocalService
    from opensagemaker.local_store import LocalStore, ensure_running

    service = LocalService(root / "service", root / "store").start(persistent=True, register=False)
    store = ensure_running(root / "store")
    try:
        bucket = "sagemaker-us-east-1-000000000000"
        store.ensure_bucket(bucket)
        rng = np.random.default_rng(0)
        docs = rng.poisson(0.05, size=(2000, VOCAB)).astype(np.float32)
        store.client().put_object(Bucket=bucket, Key="bench/train/docs.csv", Body=csv_rows(docs))
        sagemaker = service.client("sagemaker")
        runtime = service.client("sagemaker-runtime")

        # -- training: CreateTrainingJob -> first container log line -------------------------------------------
        via_service, direct = [], []
        for repeat in range(args.repeats):
            direct.append(first_log_line_direct(store, f"bench-direct-{repeat}", bucket))
            via_service.append(first_log_line_via_service(service, f"bench-train-{repeat}", bucket))
            waiter = sagemaker.get_waiter("training_job_completed_or_stopped")
            waiter.wait(TrainingJobName=f"bench-train-{repeat}", WaiterConfig={"Delay": 0.2, "MaxAttempts": 3000})
        model_data = sagemaker.describe_training_job(TrainingJobName="bench-train-0")["ModelArtifacts"]["S3ModelArtifacts"]

        # -- hosting: CreateEndpoint -> InService ------------------------------------------------------------------
        sagemaker.create_model(ModelName="bench", ExecutionRoleArn=ROLE,
                               PrimaryContainer={"Image": IMAGE, "ModelDataUrl": model_data})
        sagemaker.create_endpoint_config(EndpointConfigName="bench", ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": "bench", "InitialInstanceCount": 1,
            "InstanceType": "ml.c4.xlarge"}])
        start_service, start_direct = [], []
        for repeat in range(args.repeats):
            t0 = time.perf_counter()
            server = ModelServer.start("bench-direct", ModelRequest("bench", IMAGE, model_data), store.client,
                                       store.environment())
            start_direct.append(time.perf_counter() - t0)
            if repeat < args.repeats - 1:
                server.stop()
            name = f"bench-{repeat}"
            t0 = time.perf_counter()
            sagemaker.create_endpoint(EndpointName=name, EndpointConfigName="bench")
            while sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"] != "InService":
                time.sleep(POLL)
            start_service.append(time.perf_counter() - t0)
            if repeat < args.repeats - 1:
                sagemaker.delete_endpoint(EndpointName=name)
        endpoint = f"bench-{args.repeats - 1}"

        # -- invocations -----------------------------------------------------------------------------------------
        to_service = http.client.HTTPConnection("127.0.0.1", service.port, timeout=60)
        to_server = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        service_path, server_path = f"/endpoints/{endpoint}/invocations", "/invocations"
        row = csv_rows(docs[:1])
        for _ in range(200):  # warm both paths
            post(to_service, service_path, row)
            post(to_server, server_path, row)
        single_service, single_direct, single_boto3 = [], [], []
        for _ in range(args.requests):
            single_service.append(post(to_service, service_path, row))
            single_direct.append(post(to_server, server_path, row))
        for _ in range(min(args.requests, 1000)):
            t0 = time.perf_counter()
            runtime.invoke_endpoint(EndpointName=endpoint, Body=row, ContentType="text/csv")["Body"].read()
            single_boto3.append(time.perf_counter() - t0)
        batch = csv_rows(docs[:1000])
        batch_service, batch_direct = [], []
        for _ in range(args.batches):
            batch_service.append(post(to_service, service_path, batch))
            batch_direct.append(post(to_server, server_path, batch))
        server.stop()
        sagemaker.delete_endpoint(EndpointName=endpoint)
    finally:
        service.stop()
        LocalStore(root / "store").stop()

    def ms(values: list[float], q: float) -> float:
        return 1000 * float(np.quantile(values, q))

    print(f"\nInvokeEndpoint, one NTM row ({args.requests} requests each, alternating; {load()})")
    print("| path | p50 ms | p90 ms |")
    print("|---|---:|---:|")
    print(f"| model server directly (http.client) | {ms(single_direct, .5):.3f} | {ms(single_direct, .9):.3f} |")
    print(f"| through the service (http.client) | {ms(single_service, .5):.3f} | {ms(single_service, .9):.3f} |")
    print(f"| through the service (boto3 invoke_endpoint) | {ms(single_boto3, .5):.3f} | {ms(single_boto3, .9):.3f} |")
    print(f"| **service adds at p50** | **{ms(single_service, .5) - ms(single_direct, .5):+.3f}** | |")

    direct_rps = len(batch_direct) / sum(batch_direct)
    service_rps = len(batch_service) / sum(batch_service)
    print(f"\nInvokeEndpoint, 1,000 NTM rows per request ({args.batches} requests each; {load()})")
    print("| path | requests/s | rows/s |")
    print("|---|---:|---:|")
    print(f"| model server directly | {direct_rps:.2f} | {1000 * direct_rps:,.0f} |")
    print(f"| through the service | {service_rps:.2f} | {1000 * service_rps:,.0f} |")
    print(f"| **service / direct** | **{service_rps / direct_rps:.3f}** | |")

    print(f"\nStart-up, median of {args.repeats} ({load()})")
    print("| step | direct s | through the service s | difference s |")
    print("|---|---:|---:|---:|")
    for label, d, s in (("endpoint: create -> serving", start_direct, start_service),
                        ("training job: create -> first container log line", direct, via_service)):
        md, mss = statistics.median(d), statistics.median(s)
        print(f"| {label} | {md:.3f} | {mss:.3f} | {mss - md:+.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
