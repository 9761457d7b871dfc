"""The ``/opt/ml`` tree of the SageMaker container contract, built once at start-up from the environment.

``SM_OPT_ML`` moves the root (the SDK's local backend gives every host its own tree); everything below it follows
the SageMaker layout (docs/contract.md §3.2).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    """Locations inside one container's ``/opt/ml`` tree."""

    root: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Paths:
        env = os.environ if environ is None else environ
        return cls(Path(env.get("SM_OPT_ML", "/opt/ml")))

    @property
    def config(self) -> Path:
        return self.root / "input" / "config"

    @property
    def hyperparameters(self) -> Path:
        return self.config / "hyperparameters.json"

    @property
    def input_data_config(self) -> Path:
        return self.config / "inputdataconfig.json"

    @property
    def resource_config(self) -> Path:
        return self.config / "resourceconfig.json"

    @property
    def data(self) -> Path:
        return self.root / "input" / "data"

    def channel(self, name: str) -> Path:
        return self.data / name

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def output_data(self) -> Path:
        return self.output / "data"

    @property
    def failure(self) -> Path:
        return self.output / "failure"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"
