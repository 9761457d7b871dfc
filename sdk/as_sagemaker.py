"""The one-line switch: ``import opensagemaker.as_sagemaker`` makes ``import sagemaker...`` mean this SDK.

After it, ``sagemaker`` is ``opensagemaker`` and ``sagemaker.<x>.<y>`` is ``opensagemaker.<x>.<y>`` (``estimator``,
``session``, ``predictor``, ``inputs``, ``model``, ``transformer``, ``serializers``, ``deserializers``,
``image_uris``, ``utils``, ``model_artifacts``, ``amazon.amazon_estimator``, ``amazon.common``, ``amazon.ntm``,
``amazon.knn``), so the tutorial's cells run as written. A ``sagemaker`` submodule this SDK does not have raises ``ModuleNotFoundError`` naming it; it is
never filled in from a real ``sagemaker`` package.

How: a finder placed first on ``sys.meta_path`` answers for ``sagemaker`` and ``sagemaker.*`` only, and its loader
puts the ``opensagemaker`` module itself into ``sys.modules`` under the alias (the import system's documented
"replace yourself in sys.modules" path), so there is one copy of every module and ``isinstance`` works across both
names. Nothing changes for a process that never imports this module. If the real ``sagemaker`` package is already
imported, the switch refuses (``ImportError``) rather than mixing the two. ``uninstall()`` removes it again.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

__all__ = ["install", "installed", "uninstall"]

ALIAS = "sagemaker"
TARGET = "opensagemaker"


def _target_name(fullname: str) -> str:
    return TARGET + fullname[len(ALIAS):]


class _AliasLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # a placeholder; exec_module replaces it

    def exec_module(self, module: ModuleType) -> None:
        real = importlib.import_module(_target_name(module.__name__))
        sys.modules[module.__name__] = real


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != ALIAS and not fullname.startswith(ALIAS + "."):
            return None
        target_name = _target_name(fullname)
        if importlib.util.find_spec(target_name) is None:
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: opensagemaker.as_sagemaker maps sagemaker.* onto opensagemaker.*, "
                f"which has no {target_name}",
                name=fullname,
            )
        is_package = hasattr(importlib.import_module(target_name), "__path__")
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(), is_package=is_package)


_finder = _AliasFinder()


def installed() -> bool:
    return _finder in sys.meta_path


def install() -> None:
    """Put the alias finder first on ``sys.meta_path`` (idempotent); refuse if the real sagemaker is imported."""
    existing = sys.modules.get(ALIAS)
    if existing is not None and getattr(existing, "__name__", None) != TARGET:
        raise ImportError(
            "the real 'sagemaker' package is already imported in this process; import opensagemaker.as_sagemaker "
            "before anything imports sagemaker (e.g. in the first cell), or restart the kernel"
        )
    if not installed():
        sys.meta_path.insert(0, _finder)


def uninstall() -> None:
    """Remove the finder and the ``sagemaker*`` aliases from ``sys.modules``."""
    if installed():
        sys.meta_path.remove(_finder)
    for name in [n for n in sys.modules if n == ALIAS or n.startswith(ALIAS + ".")]:
        module = sys.modules[name]
        if getattr(module, "__name__", "").startswith(TARGET):
            del sys.modules[name]


install()
