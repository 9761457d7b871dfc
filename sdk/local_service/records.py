"""The service's records on disk: one JSON file per training job, model, endpoint config, endpoint, transform job.

``<service dir>/records/<kind>/<name>.json``, each written whole to a temporary file and renamed over the old one
(``os.replace`` is atomic), so a service killed at any moment leaves every record either as it was or as it became,
never half-written. The records are the API's own resources in the API's own names (``TrainingJobStatus``,
``CreationTime`` as epoch seconds, ...): ``Describe*`` answers are read from them directly.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

__all__ = ["KINDS", "Records"]

KINDS = ("training-jobs", "models", "endpoint-configs", "endpoints", "transform-jobs")


class Records:
    """Every record of one service folder, in memory and on disk; thread-safe."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.RLock()
        self._data: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}
        for kind in KINDS:
            folder = root / kind
            folder.mkdir(parents=True, exist_ok=True)
            for path in sorted(folder.glob("*.json")):
                try:
                    record = json.loads(path.read_text())
                except (OSError, ValueError):
                    continue  # a file that is not a record (never written by us: writes are atomic)
                self._data[kind][path.stem] = record

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            record = self._data[kind].get(name)
            return json.loads(json.dumps(record)) if record is not None else None

    def all(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(json.dumps(r)) for r in self._data[kind].values()]

    def names(self, kind: str) -> list[str]:
        with self._lock:
            return list(self._data[kind])

    def put(self, kind: str, name: str, record: dict[str, Any]) -> None:
        with self._lock:
            self._data[kind][name] = record
            path = self.root / kind / f"{name}.json"
            temporary = path.with_suffix(f".json.{os.getpid()}.{threading.get_ident()}.tmp")
            temporary.write_text(json.dumps(record, indent=1))
            os.replace(temporary, path)

    def update(self, kind: str, name: str, **changes: Any) -> dict[str, Any] | None:
        """Merge ``changes`` into the record (None values remove keys); None when the record is gone."""
        with self._lock:
            record = self._data[kind].get(name)
            if record is None:
                return None
            record = dict(record)
            for key, value in changes.items():
                if value is None:
                    record.pop(key, None)
                else:
                    record[key] = value
            self.put(kind, name, record)
            return record

    def delete(self, kind: str, name: str) -> None:
        with self._lock:
            self._data[kind].pop(name, None)
            (self.root / kind / f"{name}.json").unlink(missing_ok=True)
