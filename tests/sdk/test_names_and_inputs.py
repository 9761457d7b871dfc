"""Pure parts of the SDK: image URIs, which program an image runs, object names, job names, channel inputs."""

from __future__ import annotations

import re
import sys

import pytest

import opensagemaker
from opensagemaker.backends.local_commands import (
    command_for_image,
    register_image_command,
    unregister_image_command,
)
from opensagemaker.backends.storage import relative_name
from opensagemaker.image_uris import get_image_uri, repository_name, retrieve
from opensagemaker.inputs import TrainingInput, as_training_input, s3_input
from opensagemaker.naming import name_from_base


def test_public_surface_resolves() -> None:
    for name in opensagemaker.__all__:
        assert getattr(opensagemaker, name) is not None, name


def test_get_image_uri_matches_sdk_v1(monkeypatch) -> None:
    monkeypatch.delenv("OPENSAGEMAKER_BACKEND", raising=False)
    assert get_image_uri("us-east-1", "ntm") == "382416733822.dkr.ecr.us-east-1.amazonaws.com/ntm:1"
    assert get_image_uri("us-west-2", "knn") == "174872318107.dkr.ecr.us-west-2.amazonaws.com/knn:1"
    assert get_image_uri("cn-north-1", "ntm") == "390948362332.dkr.ecr.cn-north-1.amazonaws.com.cn/ntm:1"
    assert retrieve("knn", "eu-west-1") == "438346466558.dkr.ecr.eu-west-1.amazonaws.com/knn:1"
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    assert get_image_uri(None, "ntm").startswith("382416733822.dkr.ecr.us-east-1.")  # bare laptop: no region
    with pytest.raises(ValueError, match="no image for algorithm 'xgboost'"):
        get_image_uri("us-east-1", "xgboost")
    with pytest.raises(ValueError, match="no ntm image in region 'mars-1'"):
        get_image_uri("mars-1", "ntm")


def test_images_map_to_the_container_programs() -> None:
    assert repository_name("382416733822.dkr.ecr.us-east-1.amazonaws.com/ntm:1") == "ntm"
    assert repository_name("123.dkr.ecr.eu-west-1.amazonaws.com/open-knn@sha256:abc") == "open-knn"
    assert command_for_image(get_image_uri("us-east-1", "ntm"))[-1].endswith(("ntm-container", "sys.exit(main())"))
    assert "knn" in " ".join(command_for_image("123.dkr.ecr.us-east-1.amazonaws.com/open-knn:latest"))
    with pytest.raises(ValueError, match="register_image_command"):
        command_for_image("123.dkr.ecr.us-east-1.amazonaws.com/xgboost:1")
    register_image_command("custom", [sys.executable, "-m", "my.algo"])
    try:
        assert command_for_image("example.com/custom:2") == [sys.executable, "-m", "my.algo"]
    finally:
        unregister_image_command("custom")
    with pytest.raises(ValueError, match="list of argv"):
        register_image_command("custom", "python -m my.algo")


@pytest.mark.parametrize(
    ("prefix", "key", "expected"),
    [
        ("data/train", "data/train/part0.pbr", "part0.pbr"),
        ("data/train/", "data/train/sub/part0.pbr", "sub/part0.pbr"),
        ("20newsgroups/knn/train", "20newsgroups/knn/train", "train"),  # the k-NN cell: one object, no extension
        ("batch/train/trainvectors.csv", "batch/train/trainvectors.csv", "trainvectors.csv"),
        ("data/tr", "data/train.csv", "train.csv"),
    ],
)
def test_object_names_as_sagemaker_gives_them(prefix: str, key: str, expected: str) -> None:
    assert relative_name(prefix, key) == expected


def test_job_names_are_base_plus_millisecond_timestamp() -> None:
    first, second = name_from_base("ntm"), name_from_base("ntm")
    assert re.fullmatch(r"ntm-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-\d{3}", first) and first != second
    assert len(name_from_base("x" * 100)) == 63


def test_channel_inputs_follow_sdk_v1() -> None:
    plain = as_training_input("s3://b/p", "train")
    assert (plain.distribution, plain.content_type, plain.s3_data_type) == ("FullyReplicated", None, "S3Prefix")
    sharded = s3_input("s3://b/p", distribution="ShardedByS3Key", content_type="text/csv")
    assert isinstance(sharded, TrainingInput)
    assert sharded.config["DataSource"]["S3DataSource"]["S3DataDistributionType"] == "ShardedByS3Key"
    assert sharded.config["ContentType"] == "text/csv"
    with pytest.raises(ValueError, match="distribution 'Sharded' is not one of"):
        TrainingInput("s3://b/p", distribution="Sharded")
    with pytest.raises(ValueError, match="s3:// or file:// URI"):
        TrainingInput("/local/path")
    with pytest.raises(ValueError, match="channel 'train': expected"):
        as_training_input(42, "train")
