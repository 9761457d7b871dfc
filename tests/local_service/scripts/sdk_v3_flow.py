"""AWS's SageMaker Python SDK v3, unmodified, against the local service: run with nothing but environment variables.

v3's own surface: ``ModelTrainer`` for training (NTM on 2 instances, ShardedByS3Key, validation and auxiliary
channels, logs), ``sagemaker.core.resources`` for hosting and batch transform (``Model``, ``EndpointConfig``,
``Endpoint.invoke``, ``TransformJob``), its serializers for the request bodies. The line starting with ``REPORT``
is a JSON report for the test to check.
"""

import json
import logging
import time

import boto3
import numpy as np
from sagemaker.core import image_uris
from sagemaker.core.deserializers import JSONDeserializer
from sagemaker.core.helper.session_helper import Session, get_execution_role
from sagemaker.core.resources import Endpoint, EndpointConfig, Model, TrainingJob, TransformJob
from sagemaker.core.serializers import CSVSerializer
from sagemaker.core.shapes import (
    ContainerDefinition,
    ProductionVariant,
    S3DataSource,
    TransformDataSource,
    TransformInput,
    TransformOutput,
    TransformResources,
    TransformS3DataSource,
)
from sagemaker.train import ModelTrainer
from sagemaker.train.configs import Compute, InputData, OutputDataConfig

logging.basicConfig(level=logging.INFO, format="%(message)s")  # v3 leaves logging (and its log lines) to the app
session = Session()
role = get_execution_role(session)
bucket = session.default_bucket()
region = session.boto_region_name
s3 = boto3.client("s3")
rng = np.random.default_rng(0)
vocab = 20
docs = rng.poisson(1.0, size=(80, vocab)).astype(np.float32)
docs[docs.sum(axis=1) == 0, 0] = 1
csv = CSVSerializer()


def put(key, body):
    s3.put_object(Bucket=bucket, Key=key, Body=body)


for index, rows in enumerate(np.array_split(np.arange(60), 4)):
    put(f"v3/ntm/train/part{index}.csv", csv.serialize(docs[rows]).encode())
put("v3/ntm/validation/val.csv", csv.serialize(docs[60:]).encode())
put("v3/ntm/auxiliary/vocab.txt", "\n".join(f"word{i}" for i in range(vocab)).encode())


def source(prefix, distribution="FullyReplicated"):
    return S3DataSource(s3_data_type="S3Prefix", s3_uri=f"s3://{bucket}/{prefix}",
                        s3_data_distribution_type=distribution)


trainer = ModelTrainer(
    training_image=image_uris.retrieve("ntm", region), role=role, sagemaker_session=session, base_job_name="v3-ntm",
    compute=Compute(instance_type="ml.c4.xlarge", instance_count=2),
    hyperparameters={"num_topics": 3, "feature_dim": vocab, "mini_batch_size": 10, "epochs": 2},
    output_data_config=OutputDataConfig(s3_output_path=f"s3://{bucket}/v3/ntm/output"),
)
trainer.train(input_data_config=[
    InputData(channel_name="train", data_source=source("v3/ntm/train", "ShardedByS3Key"), content_type="text/csv"),
    InputData(channel_name="validation", data_source=source("v3/ntm/validation"), content_type="text/csv"),
    InputData(channel_name="auxiliary", data_source=source("v3/ntm/auxiliary"), content_type="text/plain"),
], logs=True)
job = TrainingJob.get(trainer._latest_training_job.training_job_name, session=session.boto_session)

name = f"v3-ntm-{int(time.time())}"
Model.create(model_name=name, execution_role_arn=role, session=session.boto_session,
             primary_container=ContainerDefinition(image=job.algorithm_specification.training_image,
                                                   model_data_url=job.model_artifacts.s3_model_artifacts))
EndpointConfig.create(endpoint_config_name=name, session=session.boto_session, production_variants=[
    ProductionVariant(variant_name="AllTraffic", model_name=name, initial_instance_count=1,
                      instance_type="ml.m4.xlarge")])
endpoint = Endpoint.create(endpoint_name=name, endpoint_config_name=name, session=session.boto_session)
endpoint.wait_for_status("InService")
answer = endpoint.invoke(body=csv.serialize(docs[:3]), content_type="text/csv", accept="application/json")
topics = JSONDeserializer().deserialize(answer.body, answer.content_type)["predictions"]

put("v3/ntm/batch/in/docs.csv", csv.serialize(docs[:10]).encode())
transform = TransformJob.create(
    transform_job_name=name, model_name=name, session=session.boto_session, batch_strategy="MultiRecord",
    transform_input=TransformInput(data_source=TransformDataSource(s3_data_source=TransformS3DataSource(
        s3_data_type="S3Prefix", s3_uri=f"s3://{bucket}/v3/ntm/batch/in")), content_type="text/csv", split_type="Line"),
    transform_output=TransformOutput(s3_output_path=f"s3://{bucket}/v3/ntm/batch/out", accept="application/jsonlines",
                                     assemble_with="Line"),
    transform_resources=TransformResources(instance_type="ml.m4.xlarge", instance_count=1),
)
transform.wait(logs=True)
batch = s3.get_object(Bucket=bucket, Key="v3/ntm/batch/out/docs.csv.out")["Body"].read().decode().splitlines()
endpoint.delete()
EndpointConfig.get(name, session=session.boto_session).delete()
Model.get(name, session=session.boto_session).delete()

labels = (docs[:60, 0] > 1).astype(np.float32)
put("v3/knn/train/train.csv", csv.serialize(np.column_stack([labels, docs[:60]])).encode())
knn = ModelTrainer(
    training_image=image_uris.retrieve("knn", region), role=role, sagemaker_session=session, base_job_name="v3-knn",
    compute=Compute(instance_type="ml.c4.xlarge", instance_count=1),
    hyperparameters={"k": 3, "sample_size": 60, "feature_dim": vocab, "predictor_type": "classifier"},
    output_data_config=OutputDataConfig(s3_output_path=f"s3://{bucket}/v3/knn/output"),
)
knn.train(input_data_config=[InputData(channel_name="train", data_source=source("v3/knn/train"),
                                       content_type="text/csv")], logs=True)
knn_job = TrainingJob.get(knn._latest_training_job.training_job_name, session=session.boto_session)
knn_name = f"v3-knn-{int(time.time())}"
Model.create(model_name=knn_name, execution_role_arn=role, session=session.boto_session,
             primary_container=ContainerDefinition(image=knn_job.algorithm_specification.training_image,
                                                   model_data_url=knn_job.model_artifacts.s3_model_artifacts))
EndpointConfig.create(endpoint_config_name=knn_name, session=session.boto_session, production_variants=[
    ProductionVariant(variant_name="AllTraffic", model_name=knn_name, initial_instance_count=1,
                      instance_type="ml.m4.xlarge")])
knn_endpoint = Endpoint.create(endpoint_name=knn_name, endpoint_config_name=knn_name, session=session.boto_session)
knn_endpoint.wait_for_status("InService")
answer = knn_endpoint.invoke(body=csv.serialize(docs[:2]), content_type="text/csv",
                             accept="application/jsonlines; verbose=true")
verbose = [json.loads(line) for line in answer.body.read().decode().splitlines()]
knn_endpoint.delete()
EndpointConfig.get(knn_name, session=session.boto_session).delete()
Model.get(knn_name, session=session.boto_session).delete()

print("\nREPORT " + json.dumps({
    "role": role, "bucket": bucket, "status": job.training_job_status,
    "instances": job.resource_config.instance_count,
    "channels": {c.channel_name: c.data_source.s3_data_source.s3_data_distribution_type for c in job.input_data_config},
    "topic_sums": [round(sum(p["topic_weights"]), 4) for p in topics],
    "batch_rows": len(batch), "verbose": verbose,
    "endpoints_left": [e["EndpointName"] for e in boto3.client("sagemaker").list_endpoints()["Endpoints"]],
}))
