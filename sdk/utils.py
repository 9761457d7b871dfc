"""``sagemaker.utils``: the naming helpers of SDK v2 that notebooks import (``name_from_base`` & co).

Same names, arguments and outputs as SDK v2's ``sagemaker/utils.py``: ``name_from_base('ntm')`` is
``ntm-2026-12-01-23-59-59-123`` (trimmed to ``max_length``), ``unique_name_from_base`` appends seconds since the
epoch and 4 random hex digits, ``base_from_name`` strips either suffix again, ``base_name_from_image`` is the
repository part of an image URI. Job names made by this SDK come from ``opensagemaker.naming``, which
``name_from_base`` is, so a name a notebook makes and one the SDK makes look alike.
"""

from __future__ import annotations

import re
import secrets
import time

from opensagemaker.naming import name_from_base as _name_from_base
from opensagemaker.naming import sagemaker_timestamp

__all__ = [
    "base_from_name",
    "base_name_from_image",
    "name_from_base",
    "name_from_image",
    "sagemaker_short_timestamp",
    "sagemaker_timestamp",
    "unique_name_from_base",
]


def sagemaker_short_timestamp() -> str:
    """``YYMMDD-HHMM`` in local time, as SDK v2."""
    return time.strftime("%y%m%d-%H%M")


def name_from_base(base: str, max_length: int = 63, short: bool = False) -> str:
    """``<base>-<timestamp>``, ``base`` trimmed so the whole is at most ``max_length`` characters."""
    if not short:
        return _name_from_base(base, max_length)
    stamp = sagemaker_short_timestamp()
    return f"{base[: max_length - len(stamp) - 1]}-{stamp}"


def unique_name_from_base(base: str, max_length: int = 63) -> str:
    """``<base>-<epoch seconds>-<4 hex digits>``, at most ``max_length`` characters."""
    unique = f"{secrets.randbelow(16**4):04x}"
    seconds = str(int(time.time()))
    return f"{base[: max_length - 2 - len(seconds) - len(unique)]}-{seconds}-{unique}"


def base_from_name(name: str) -> str:
    """The base of a name made by ``name_from_base`` (long or short timestamp); other names come back as they are."""
    match = re.match(r"^(.+)-(\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-\d{3}|\d{6}-\d{4})", name)
    return match.group(1) if match else name


def base_name_from_image(image: str, default_base_name: str | None = None) -> str:
    """``123.dkr.ecr.us-east-1.amazonaws.com/ntm:1`` -> ``ntm`` (v2's rule: the last path part, without the tag)."""
    if not isinstance(image, str):
        return default_base_name or "base_name"
    match = re.match(r"^(.+/)?([^:/]+)(:[^:]+)?$", image)
    return match.group(2) if match else image


def name_from_image(image: str, max_length: int = 63) -> str:
    return name_from_base(base_name_from_image(image), max_length=max_length)
