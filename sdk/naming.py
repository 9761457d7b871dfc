"""Job, model and endpoint names as SDK v1 makes them: ``<base>-YYYY-MM-DD-HH-MM-SS-mmm`` (63 characters at most)."""

from __future__ import annotations

import re
import time

from opensagemaker.image_uris import repository_name

__all__ = ["base_name_from_image", "name_from_base", "sagemaker_timestamp"]

_last: list[str] = [""]


def sagemaker_timestamp() -> str:
    """``2026-11-25-18-30-00-123`` (UTC, milliseconds); two calls in one millisecond still differ."""
    while True:
        now = time.time()
        stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(now)) + f"-{int(now * 1000) % 1000:03d}"
        if stamp != _last[0]:
            _last[0] = stamp
            return stamp
        time.sleep(0.001)


def name_from_base(base: str, max_length: int = 63) -> str:
    stamp = sagemaker_timestamp()
    return f"{base[: max_length - len(stamp) - 1]}-{stamp}"


def base_name_from_image(image: str) -> str:
    """``.../ntm:1`` -> ``ntm``; characters SageMaker names cannot hold become ``-``."""
    return re.sub(r"[^a-zA-Z0-9-]", "-", repository_name(image)).strip("-") or "job"
