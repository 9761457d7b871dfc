"""``model.tar.gz`` in and out: a tarball of several hosts' ``/opt/ml/model`` trees, and a safe extractor.

A model artifact comes from a store anyone with write access can change, so extraction trusts nothing: every member
must be a regular file or a folder whose name is relative and stays inside the destination (no ``..``, no absolute
path, no symlink, hard link, device or FIFO). A hostile member stops extraction with ``UnsafeArchiveError`` naming
it, before anything is written; the check is done twice, by hand and by tarfile's ``filter='data'``.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

__all__ = ["ModelArchiveError", "UnsafeArchiveError", "make_tarball", "safe_extract"]


class ModelArchiveError(ValueError):
    """A model archive cannot be used: unreadable, or unsafe (see ``UnsafeArchiveError``)."""


class UnsafeArchiveError(ModelArchiveError):
    """A model archive holds a member that could write outside its folder or is not a plain file or folder."""


def make_tarball(trees: Iterable[Path], destination: Path) -> Path:
    """Gzip-tar the contents of each folder in ``trees`` (merged, paths relative to each folder) into ``destination``.

    On SageMaker the hosts' ``/opt/ml/model`` folders are merged into one archive; a name written by two hosts keeps
    the first host's file (the algorithms have only the leader write, docs/contract.md A8).
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    with tarfile.open(destination, "w:gz") as archive:
        for tree in trees:
            if not tree.is_dir():
                continue
            for path in sorted(tree.rglob("*")):
                name = path.relative_to(tree).as_posix()
                if name in seen or path.is_symlink():
                    continue
                seen.add(name)
                archive.add(path, arcname=name, recursive=False)
    return destination


def _check_member(member: tarfile.TarInfo, archive: str) -> None:
    name = member.name
    parts = PurePosixPath(name).parts
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or os.path.isabs(name):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path; refusing to extract")
    if ".." in parts or ".." in name.split("\\"):
        raise UnsafeArchiveError(f"{archive}: member {name!r} points outside the model folder (..); refusing to extract")
    if member.issym() or member.islnk():
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} is a {'symbolic' if member.issym() else 'hard'} link "
            f"(to {member.linkname!r}); model archives may hold only files and folders"
        )
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} is a device, FIFO or other special file; model archives may hold only "
            "files and folders"
        )


def safe_extract(archive_path: Path, destination: Path) -> list[str]:
    """Extract ``archive_path`` into ``destination`` after checking every member; returns the member names."""
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive_path, "r:*") as archive:
            members = archive.getmembers()
            for member in members:
                _check_member(member, archive_path.name)
            try:
                archive.extractall(destination, members=members, filter="data")
            except tarfile.FilterError as error:
                raise UnsafeArchiveError(f"{archive_path.name}: {error}; refusing to extract") from None
    except tarfile.ReadError as error:
        raise ModelArchiveError(f"{archive_path.name} is not a readable .tar.gz model archive: {error}") from None
    return [m.name for m in members]
