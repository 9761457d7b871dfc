"""v2 import path ``sagemaker.deserializers``: the deserializer classes of ``opensagemaker.serializers``."""

from opensagemaker.amazon.common import RecordDeserializer
from opensagemaker.serializers import (
    BytesDeserializer,
    CSVDeserializer,
    JSONDeserializer,
    NumpyDeserializer,
    StringDeserializer,
)

__all__ = [
    "BytesDeserializer",
    "CSVDeserializer",
    "JSONDeserializer",
    "NumpyDeserializer",
    "RecordDeserializer",
    "StringDeserializer",
]
