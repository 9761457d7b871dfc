"""AWS's SageMaker Python SDK v2, unmodified, against the local service: run with nothing but environment variables.

NTM on 2 instances with ShardedByS3Key plus validation and auxiliary channels (logs streamed), deploy, predict with
the SDK's serializers, batch transform, delete; k-NN fit, deploy, predict with ``application/jsonlines;
verbose=true``, delete. The line starting with ``REPORT`` is a JSON report for the test to check.
"""

import io
import json

import boto3
import numpy as np
import sagemaker
from sagemaker import image_uris
from sagemaker.amazon.common import write_numpy_to_dense_tensor
from sagemaker.deserializers import JSONDeserializer, StringDeserializer
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.serializers import CSVSerializer

session = sagemaker.Session()
role = sagemaker.get_execution_role()
bucket = session.default_bucket()
region = session.boto_region_name
s3 = boto3.client("s3")
rng = np.random.default_rng(0)
vocab = 20
docs = rng.poisson(1.0, size=(80, vocab)).astype(np.float32)
docs[docs.sum(axis=1) == 0, 0] = 1


def put(key, array, labels=None):
    buffer = io.BytesIO()
    write_numpy_to_dense_tensor(buffer, array, labels)
    s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())


for index, rows in enumerate(np.array_split(np.arange(60), 4)):
    put(f"v2/ntm/train/part{index}.pbr", docs[rows])
put("v2/ntm/validation/val.pbr", docs[60:])
s3.put_object(Bucket=bucket, Key="v2/ntm/auxiliary/vocab.txt",
              Body="\n".join(f"word{i}" for i in range(vocab)).encode())

ntm = Estimator(image_uris.retrieve("ntm", region), role, instance_count=2, instance_type="ml.c4.xlarge",
                output_path=f"s3://{bucket}/v2/ntm/output", sagemaker_session=session)
ntm.set_hyperparameters(num_topics=3, feature_dim=vocab, mini_batch_size=10, epochs=2)
ntm.fit({
    "train": TrainingInput(f"s3://{bucket}/v2/ntm/train", distribution="ShardedByS3Key"),
    "validation": TrainingInput(f"s3://{bucket}/v2/ntm/validation"),
    "auxiliary": TrainingInput(f"s3://{bucket}/v2/ntm/auxiliary", content_type="text/plain"),
}, logs=True)
description = ntm.latest_training_job.describe()

predictor = ntm.deploy(1, "ml.m4.xlarge", serializer=CSVSerializer(), deserializer=JSONDeserializer())
topics = predictor.predict(docs[:3])["predictions"]

csv = "\n".join(",".join(f"{v:g}" for v in row) for row in docs[:10]) + "\n"
s3.put_object(Bucket=bucket, Key="v2/ntm/batch/in/docs.csv", Body=csv.encode())
transformer = ntm.transformer(1, "ml.m4.xlarge", output_path=f"s3://{bucket}/v2/ntm/batch/out",
                              strategy="MultiRecord", assemble_with="Line", accept="application/jsonlines")
transformer.transform(f"s3://{bucket}/v2/ntm/batch/in", content_type="text/csv", split_type="Line")
transformer.wait()
batch = s3.get_object(Bucket=bucket, Key="v2/ntm/batch/out/docs.csv.out")["Body"].read().decode().splitlines()
predictor.delete_model()  # first: it reads the model names from the endpoint's config
predictor.delete_endpoint()

labels = (docs[:60, 0] > 1).astype(np.float32)
put("v2/knn/train/train.pbr", docs[:60], labels)
knn = Estimator(image_uris.retrieve("knn", region), role, instance_count=1, instance_type="ml.c4.xlarge",
                output_path=f"s3://{bucket}/v2/knn/output", sagemaker_session=session)
knn.set_hyperparameters(k=3, sample_size=60, feature_dim=vocab, predictor_type="classifier")
knn.fit({"train": TrainingInput(f"s3://{bucket}/v2/knn/train")}, logs=True)
knn_predictor = knn.deploy(1, "ml.m4.xlarge", serializer=CSVSerializer(),
                           deserializer=StringDeserializer(accept="application/jsonlines; verbose=true"))
verbose = [json.loads(line) for line in knn_predictor.predict(docs[:2]).splitlines()]
knn_predictor.delete_model()
knn_predictor.delete_endpoint()

print("\nREPORT " + json.dumps({
    "role": role, "bucket": bucket, "status": description["TrainingJobStatus"],
    "instances": description["ResourceConfig"]["InstanceCount"],
    "channels": {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3DataDistributionType"]
                 for c in description["InputDataConfig"]},
    "metrics": sorted(m["MetricName"] for m in description.get("FinalMetricDataList", [])),
    "topic_sums": [round(sum(p["topic_weights"]), 4) for p in topics],
    "batch_rows": len(batch), "verbose": verbose,
    "endpoints_left": [e["EndpointName"] for e in session.sagemaker_client.list_endpoints()["Endpoints"]],
}))
