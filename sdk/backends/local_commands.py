"""Which program the local backend runs for an image URI.

The local backend never pulls images: it maps the image's repository name to an installed console script.
``ntm`` (AWS's built-in name, what ``get_image_uri`` returns) and any repository whose name ends in ``ntm`` (this
project's own images, e.g. ``open-ntm``) run ``ntm-container``; ``knn`` likewise runs ``knn-container``. The mode
(``train`` / ``serve``) is appended as SageMaker appends it to ``docker run``.

``register_image_command(image_or_repository, command)`` maps any other image to any command (a list of argv
strings), which is how tests run the toy algorithm; registrations win over the defaults.
"""

from __future__ import annotations

import shutil
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from opensagemaker.image_uris import repository_name

__all__ = ["command_for_image", "register_image_command", "unregister_image_command"]

_DEFAULT_SCRIPTS = {"ntm": ("ntm-container", "ntm_container.cli"), "knn": ("knn-container", "knn_container.cli")}
_registered: dict[str, tuple[str, ...]] = {}
_lock = threading.Lock()


def register_image_command(image: str, command: Sequence[str]) -> None:
    """Run ``command + [mode]`` for ``image`` (a full URI or a bare repository name)."""
    if isinstance(command, str) or not command:
        raise ValueError("command must be a non-empty list of argv strings, e.g. ['python', '-m', 'my.algo']")
    with _lock:
        _registered[image] = tuple(command)


def unregister_image_command(image: str) -> None:
    with _lock:
        _registered.pop(image, None)


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
        registered = _registered.get(image_uri) or _registered.get(repository)
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
