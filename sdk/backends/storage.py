"""Objects behind ``s3://`` and ``file://`` URIs: list a prefix, read a manifest, download, upload.

Used by the local backend to stage channel data and publish artifacts. Listing follows S3 semantics: an
``S3Prefix`` URI matches every key that *starts with* it (so ``s3://b/data/train`` also matches
``data/train2.csv``, as on SageMaker), sorted by key. A ``ManifestFile`` URI names a JSON list
``[{"prefix": "s3://b/p/"}, "rel1", "rel2", ...]`` (what ``record_set`` writes). ``file://`` URIs name a local file
or folder (everything under it).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

__all__ = [
    "StoredObject", "download", "join_uri", "list_objects", "parse_s3_uri", "read_bytes", "relative_name",
    "upload_bytes", "upload_file",
]


@dataclass(frozen=True)
class StoredObject:
    """One object: its full URI and the name relative to the listed prefix's folder (used for file names)."""

    uri: str
    relative: str
    size: int = 0


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key/part`` -> ``("bucket", "key/part")``."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def local_path(uri: str) -> Path:
    """The path a ``file://`` URI names."""
    parsed = urlparse(uri)
    return Path(unquote(parsed.netloc + parsed.path)) if parsed.netloc else Path(unquote(parsed.path))


def join_uri(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts if p)])


def list_objects(client: Any, uri: str, data_type: str = "S3Prefix") -> list[StoredObject]:
    """Objects under ``uri``, sorted by key; ``ManifestFile`` resolves the manifest's entries."""
    if uri.startswith("file://"):
        root = local_path(uri)
        if root.is_file():
            return [StoredObject(root.as_uri(), root.name, root.stat().st_size)]
        if not root.is_dir():
            raise ValueError(f"{uri}: no such local file or folder")
        return [
            StoredObject(p.as_uri(), p.relative_to(root).as_posix(), p.stat().st_size)
            for p in sorted(root.rglob("*"))
            if p.is_file()
        ]
    if data_type == "ManifestFile":
        return _manifest_objects(client, uri)
    if data_type != "S3Prefix":
        raise ValueError(f"{uri}: data type {data_type!r} is not supported locally (use S3Prefix or ManifestFile)")
    bucket, prefix = parse_s3_uri(uri)
    found = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith("/"):
                continue  # folder markers
            found.append(StoredObject(f"s3://{bucket}/{key}", relative_name(prefix, key), int(item.get("Size", 0))))
    found.sort(key=lambda o: o.uri)
    return found


def relative_name(prefix: str, key: str) -> str:
    """The file name SageMaker gives ``key`` listed under ``prefix``: the key after the prefix (the basename when
    the prefix is the whole key); a prefix that ends mid-name keeps the key from the prefix's folder on."""
    if key == prefix:
        return key.rsplit("/", 1)[-1]
    rest = key[len(prefix):]
    if prefix.endswith("/") or rest.startswith("/"):
        return rest.lstrip("/")
    folder = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
    return key[len(folder):]


def _manifest_objects(client: Any, uri: str) -> list[StoredObject]:
    try:
        entries = json.loads(read_bytes(client, uri))
        prefix = entries[0]["prefix"]
        names = [str(name) for name in entries[1:]]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise ValueError(
            f"{uri}: not a manifest file (expected a JSON list [{{\"prefix\": \"s3://...\"}}, \"name\", ...]): {error}"
        ) from None
    return [StoredObject(join_uri(prefix, name), name) for name in names]


def read_bytes(client: Any, uri: str) -> bytes:
    if uri.startswith("file://"):
        return local_path(uri).read_bytes()
    bucket, key = parse_s3_uri(uri)
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def download(client: Any, uri: str, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    if uri.startswith("file://"):
        shutil.copyfile(local_path(uri), destination)
        return
    bucket, key = parse_s3_uri(uri)
    client.download_file(bucket, key, str(destination))


def upload_file(client: Any, source: Path, uri: str) -> None:
    if uri.startswith("file://"):
        target = local_path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return
    bucket, key = parse_s3_uri(uri)
    client.upload_file(str(source), bucket, key)


def upload_bytes(client: Any, data: bytes, uri: str) -> None:
    if uri.startswith("file://"):
        target = local_path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return
    bucket, key = parse_s3_uri(uri)
    client.put_object(Bucket=bucket, Key=key, Body=data)
