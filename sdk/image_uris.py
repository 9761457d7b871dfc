"""Image URIs of the built-in NTM and k-NN algorithms, and the repository name inside a URI.

``get_image_uri(region, 'ntm')`` returns what SDK v1 returns (docs/contract.md §5.1), e.g.
``382416733822.dkr.ecr.us-east-1.amazonaws.com/ntm:1``: on SageMaker that is AWS's closed built-in; the local
backend only looks at the repository name (``ntm``, ``knn``, or one of this project's own names such as
``open-ntm``) to decide which program runs (see ``opensagemaker.backends.local_commands``). ``retrieve`` is the v2
spelling. With ``OPENSAGEMAKER_BACKEND=aws`` the answer is instead the image the user pushed to ECR with
``python -m opensagemaker.images push`` (``opensagemaker.backends.aws.pushed_image_uri``; an error giving that
command if there is none), since on SageMaker ``ntm:1`` would run AWS's closed built-in. A region of ``None``
(``boto3.Session().region_name`` on a machine with no AWS configuration) means ``$AWS_DEFAULT_REGION``, else
``us-east-1``, so the tutorial's first cell works on a bare laptop.
"""

from __future__ import annotations

import os

__all__ = ["ALGORITHM_ACCOUNTS", "DEFAULT_REGION", "get_image_uri", "repository_name", "resolve_region", "retrieve"]

DEFAULT_REGION = "us-east-1"

# sagemaker 1.72.1 amazon/amazon_estimator.py registry(): the account shared by pca, kmeans, linear-learner,
# factorization-machines, ntm, randomcutforest, knn, object2vec and ipinsights.
ALGORITHM_ACCOUNTS = {
    "us-east-1": "382416733822",
    "us-east-2": "404615174143",
    "us-west-2": "174872318107",
    "eu-west-1": "438346466558",
    "eu-central-1": "664544806723",
    "ap-northeast-1": "351501993468",
    "ap-northeast-2": "835164637446",
    "ap-southeast-2": "712309505854",
    "us-gov-west-1": "226302683700",
    "ap-southeast-1": "475088953585",
    "ap-south-1": "991648021394",
    "ca-central-1": "469771592824",
    "eu-west-2": "644912444149",
    "us-west-1": "632365934929",
    "us-iso-east-1": "490574956308",
    "ap-east-1": "286214385809",
    "eu-north-1": "669576153137",
    "eu-west-3": "749696950732",
    "sa-east-1": "855470959533",
    "me-south-1": "249704162688",
    "cn-north-1": "390948362332",
    "cn-northwest-1": "387376663083",
}
ALGORITHMS = ("ntm", "knn")


def resolve_region(region: str | None) -> str:
    """``region``, else ``$AWS_DEFAULT_REGION`` / ``$AWS_REGION``, else ``us-east-1``."""
    return region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or DEFAULT_REGION


def _domain(region: str) -> str:
    if region.startswith("cn-"):
        return "amazonaws.com.cn"
    if region.startswith("us-iso-"):
        return "c2s.ic.gov"
    return "amazonaws.com"


def get_image_uri(region_name: str | None, repo_name: str, repo_version: str | int = 1) -> str:
    """``<account>.dkr.ecr.<region>.<domain>/<repo>:<version>`` for ``ntm`` or ``knn`` (SDK v1 signature); the
    pushed open image when ``$OPENSAGEMAKER_BACKEND`` is ``aws``."""
    if repo_name not in ALGORITHMS:
        raise ValueError(f"no image for algorithm {repo_name!r}: this SDK provides {', '.join(ALGORITHMS)}")
    region = resolve_region(region_name)
    from opensagemaker.backends import BACKEND_ENV

    if os.environ.get(BACKEND_ENV) == "aws":
        from opensagemaker.backends.aws import pushed_image_uri

        return pushed_image_uri(repo_name, region)
    try:
        account = ALGORITHM_ACCOUNTS[region]
    except KeyError:
        raise ValueError(
            f"no {repo_name} image in region {region!r}; use one of: {', '.join(sorted(ALGORITHM_ACCOUNTS))}"
        ) from None
    return f"{account}.dkr.ecr.{region}.{_domain(region)}/{repo_name}:{repo_version}"


def retrieve(framework: str, region: str | None = None, version: str | None = None, **_ignored: object) -> str:
    """v2 ``sagemaker.image_uris.retrieve('ntm', region)``; version ``"1"`` (the only one) by default."""
    return get_image_uri(region, framework, version or "1")


def repository_name(image_uri: str) -> str:
    """``382416733822.dkr.ecr.us-east-1.amazonaws.com/ntm:1`` -> ``ntm``; ``open-ntm@sha256:..`` -> ``open-ntm``."""
    last = image_uri.rsplit("/", 1)[-1]
    return last.split("@", 1)[0].split(":", 1)[0]
