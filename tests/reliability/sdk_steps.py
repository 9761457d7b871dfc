"""One SDK step per Python process, so each test step sees a fresh SDK (a "restart"): ``upload FILE``, ``read URI``,
``keys -``, ``digests -``, ``deploy MODEL_TAR_GZ`` (deploys the k-NN image locally and reports every listening socket of the
processes it started, then deletes the endpoint). Prints one JSON object."""

from __future__ import annotations

import hashlib
import json
import sys

import psutil


def listening(pids: set[int]) -> list[str]:
    found = []
    for pid in pids:
        try:
            for connection in psutil.Process(pid).net_connections(kind="inet"):
                if connection.status == psutil.CONN_LISTEN:
                    found.append(f"{connection.laddr.ip}:{connection.laddr.port}")
        except psutil.NoSuchProcess:
            continue
    return sorted(found)


def main(step: str, argument: str) -> dict:
    import boto3

    from opensagemaker import Session

    session = Session()
    bucket = session.default_bucket()
    if step == "upload":
        return {"uri": session.upload_data(argument, bucket=bucket, key_prefix="reliability")}
    s3 = boto3.client("s3")
    if step == "read":
        key = argument.split("/", 3)[3]
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    if step == "keys":
        listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        return {"keys": {item["Key"]: item["Size"] for item in listed}}
    if step == "digests":
        listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        return {item["Key"]: hashlib.sha256(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()).hexdigest()
                for item in listed}
    if step == "deploy":
        from opensagemaker.image_uris import get_image_uri
        from opensagemaker.model import Model

        uri = session.upload_data(argument, bucket=bucket, key_prefix="reliability-model")
        before = {p.pid for p in psutil.Process().children(recursive=True)}
        model = Model(uri, image=get_image_uri("us-east-1", "knn"), sagemaker_session=session)
        predictor = model.deploy(1, "ml.m4.xlarge")
        started = {p.pid for p in psutil.Process().children(recursive=True)} - before
        store = listening(before)
        endpoint = listening(started)
        predictor.content_type = "text/csv"
        answer = predictor.predict(b"1,2,3,4,5,6,7,8")
        predictor.delete_endpoint()
        return {"endpoint": endpoint, "store": store, "answered": answer is not None}
    raise SystemExit(f"unknown step {step}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
