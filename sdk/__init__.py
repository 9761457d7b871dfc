"""The v1-style Python SDK that runs the open NTM and k-NN containers locally or on Amazon SageMaker.

The names are SageMaker Python SDK v1's (docs/contract.md §5.1), with the v2 spellings where they are cheap:
``Session``, ``get_execution_role``, ``estimator.Estimator``, ``s3_input`` / ``TrainingInput``, ``NTM``, ``KNN``,
``RealTimePredictor`` / ``Predictor``, ``Transformer``, ``amazon.amazon_estimator.get_image_uri``,
``amazon.common`` (RecordIO-protobuf), ``predictor.csv_serializer`` & co, and SDK v2's ``serializers`` /
``deserializers`` classes, ``utils`` (``name_from_base``), ``Estimator.attach``. ``model_artifacts`` reads a trained
``model.tar.gz`` (NTM's topic-word matrix, k-NN's faiss index) without the containers. Jobs run on the local
backend by default (processes + a local S3 store; no Docker, no AWS account). To run code written for ``import sagemaker`` unchanged,
put ``import opensagemaker.as_sagemaker`` before it (see that module).
"""

from opensagemaker import (
    amazon,
    deserializers,
    estimator,
    image_uris,
    inputs,
    model,
    model_artifacts,
    predictor,
    serializers,
    session,
    transformer,
    utils,
)
from opensagemaker.amazon.amazon_estimator import RecordSet, get_image_uri
from opensagemaker.amazon.knn import KNN, KNNModel, KNNPredictor
from opensagemaker.amazon.ntm import NTM, NTMModel, NTMPredictor
from opensagemaker.estimator import Estimator
from opensagemaker.inputs import TrainingInput, s3_input
from opensagemaker.model import Model
from opensagemaker.predictor import Predictor, RealTimePredictor
from opensagemaker.session import Session, get_execution_role
from opensagemaker.transformer import Transformer

__version__ = "0.1.0"

__all__ = [
    "KNN",
    "NTM",
    "Estimator",
    "KNNModel",
    "KNNPredictor",
    "Model",
    "NTMModel",
    "NTMPredictor",
    "Predictor",
    "RealTimePredictor",
    "RecordSet",
    "Session",
    "TrainingInput",
    "Transformer",
    "amazon",
    "deserializers",
    "estimator",
    "get_execution_role",
    "get_image_uri",
    "image_uris",
    "inputs",
    "model",
    "model_artifacts",
    "predictor",
    "s3_input",
    "serializers",
    "session",
    "transformer",
    "utils",
]
