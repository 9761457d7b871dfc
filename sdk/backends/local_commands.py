"""Which program the local backend runs for an image URI.

The local backend never pulls images: it maps the image's repository name to an installed console script.
``ntm`` (AWS's built-in name, what ``get_image_uri`` returns) and any repository whose name ends in ``ntm`` (this
project's own images, e.g. ``open-ntm``) run ``ntm-container``; ``knn`` likewise runs ``knn-container``. The mode
(``train`` / ``serve``) is appended as SageMaker appends it to ``docker run``.

``register_image_command(image_or_repository, command)`` maps any other image to any command (a list of argv
strings), which is how tests run the toy algorithm; registrations win over the defaults. Registrations are kept in
``image-commands.json`` of the local service's folder, so the service (another process) runs them too.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from opensagemaker.image_uris import repository_name

__all__ = ["command_for_image", "register_image_command", "unregister_image_command"]

_DEFAULT_SCRIPTS = {"ntm": ("ntm-container", "ntm_container.cli"), "knn": ("knn-container", "knn_container.cli")}
_lock = threading.Lock()


def _registry_file() -> Path:
    from opensagemaker.local_service.control import default_root

    return default_root() / "image-commands.json"


def _registered() -> dict[str, list[str]]:
    try:
        data = json.loads(_registry_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(registered: dict[str, list[str]]) -> None:
    path = _registry_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(registered, indent=1))
    os.replace(temporary, path)


def register_image_command(image: str, command: Sequence[str]) -> None:
    """Run ``command + [mode]`` for ``image`` (a full URI or a bare repository name)."""
    if isinstance(command, str) or not command:
        raise ValueError("command must be a non-empty list of argv strings, e.g. ['python', '-m', 'my.algo']")
    with _lock:
        _write({**_registered(), image: [str(part) for part in command]})


def unregister_image_command(image: str) -> None:
    with _lock:
        registered = _registered()
        if registered.pop(image, None) is not None:
            _write(registered)


def _console_script(script: str, module: str) -> list[str]:
    """The console script next to this interpreter, else on PATH, else the same entry point via ``-c``."""
    beside = Path(sys.executable).parent / script
    if beside.is_file():
        return [str(beside)]
    found = shutil.which(script)
    if found:
        return [found]
    return [sys.executable, "-c", f"import sys; from {module} import main; sys.exit(main())"]


def command_for_image(image_uri: str) -> list[str]:
    """argv (without the mode) that runs ``image_uri`` locally; a ``ValueError`` names what is supported."""
    repository = repository_name(image_uri)
    with _lock:
        table = _registered()
        registered = table.get(image_uri) or table.get(repository)
    if registered:
        return list(registered)
    for algorithm, (script, module) in _DEFAULT_SCRIPTS.items():
        if repository == algorithm or repository.endswith(("-" + algorithm, "_" + algorithm)):
            return _console_script(script, module)
    raise ValueError(
        f"the local backend cannot run image {image_uri!r}: it runs the ntm and knn algorithms "
        "(repositories 'ntm', 'knn', or names ending in '-ntm' / '-knn'); register another program with "
        "opensagemaker.backends.local_commands.register_image_command(image, argv)"
    )
