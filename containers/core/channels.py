"""Channels, their content types and files, and the cluster layout, from ``/opt/ml/input/config``.

``inputdataconfig.json`` names the channels; a missing ``ContentType`` means RecordIO-protobuf (the v1 tutorials send
none, docs/contract.md §1.2). Files whose name (or any folder under the channel) starts with ``.`` or ``_`` are skipped,
as the open-source built-in XGBoost does, so ``.amazon.manifest`` and ``_SUCCESS`` never reach a reader.
``resourceconfig.json`` gives the hosts; the first one is the leader.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from container_core.errors import UserError
from container_core.mime import MediaType, parse_media_type
from container_core.paths import Paths


@dataclass(frozen=True)
class ChannelSpec:
    """What an algorithm accepts on one channel."""

    name: str
    content_types: tuple[str, ...]
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Channel:
    """One channel as delivered to this host."""

    name: str
    content_type: MediaType
    path: Path
    input_mode: str = "File"
    distribution: str = "FullyReplicated"

    def files(self) -> list[Path]:
        """Data files under the channel folder, sorted, hidden (``.``/``_``) files and folders skipped."""
        if not self.path.is_dir():
            return []
        found = []
        for candidate in sorted(self.path.rglob("*")):
            relative = candidate.relative_to(self.path).parts
            if any(part.startswith((".", "_")) for part in relative):
                continue
            if candidate.is_file():
                found.append(candidate)
        return found


@dataclass(frozen=True)
class ResourceConfig:
    """The hosts of a training job (``resourceconfig.json``); a single ``algo-1`` when the file is absent."""

    current_host: str = "algo-1"
    hosts: tuple[str, ...] = ("algo-1",)

    @property
    def rank(self) -> int:
        return self.hosts.index(self.current_host)

    @property
    def num_hosts(self) -> int:
        return len(self.hosts)

    @property
    def leader(self) -> str:
        return self.hosts[0]

    @property
    def is_leader(self) -> bool:
        return self.current_host == self.leader

    @classmethod
    def load(cls, paths: Paths) -> ResourceConfig:
        data = _read_json(paths.resource_config, missing={})
        if not data:
            return cls()
        try:
            hosts = tuple(str(h) for h in data["hosts"])
            current = str(data["current_host"])
        except (KeyError, TypeError) as error:
            raise UserError(f"{paths.resource_config}: missing key {error} (need current_host and hosts)") from None
        if current not in hosts:
            raise UserError(f"{paths.resource_config}: current_host {current!r} is not in hosts {list(hosts)}")
        return cls(current, hosts)


def load_hyperparameters(paths: Paths) -> dict[str, Any]:
    data = _read_json(paths.hyperparameters, missing={})
    if not isinstance(data, dict):
        raise UserError(f"{paths.hyperparameters} must hold a JSON object of name -> value")
    return data


def load_channels(paths: Paths, specs: Sequence[ChannelSpec], algorithm: str) -> dict[str, Channel]:
    """Resolve the configured channels against the algorithm's specs.

    Raises ``UserError`` for an unknown channel, a missing required one, an unsupported content type, or Pipe mode.
    """
    config = _read_json(paths.input_data_config, missing=None)
    if config is None:
        # No config file (a hand-built tree): take every channel folder that exists, with its default type.
        config = {spec.name: {} for spec in specs if paths.channel(spec.name).is_dir()}
    if not isinstance(config, dict):
        raise UserError(f"{paths.input_data_config} must hold a JSON object of channel -> settings")
    by_name: Mapping[str, ChannelSpec] = {spec.name: spec for spec in specs}
    channels: dict[str, Channel] = {}
    for name, settings in config.items():
        spec = by_name.get(name)
        if spec is None:
            raise UserError(
                f"Channel {name!r} is not supported by {algorithm}; use one of: {', '.join(by_name)}"
            )
        settings = settings if isinstance(settings, dict) else {}
        media = parse_media_type(settings.get("ContentType"))
        if media.base not in spec.content_types:
            raise UserError(
                f"Channel {name!r}: content type {str(media)!r} is not supported by {algorithm}; "
                f"use one of: {', '.join(spec.content_types)}"
            )
        mode = str(settings.get("TrainingInputMode", "File"))
        if mode.lower() == "pipe":
            raise UserError(f"Channel {name!r}: Pipe input mode is not supported; use File or FastFile")
        channels[name] = Channel(
            name=name,
            content_type=media,
            path=paths.channel(name),
            input_mode=mode,
            distribution=str(settings.get("S3DistributionType", "FullyReplicated")),
        )
    for spec in specs:
        if spec.required and spec.name not in channels:
            raise UserError(f"{algorithm} needs a {spec.name!r} channel ({spec.description or 'training data'})")
    return channels


def _read_json(path: Path, missing: Any) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return missing
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"{path} is not valid JSON: {error}") from None
