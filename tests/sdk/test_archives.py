"""Model archives: the merged multi-host tarball, and extraction that refuses hostile members before writing."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from opensagemaker.backends.archives import ModelArchiveError, UnsafeArchiveError, make_tarball, safe_extract


def _archive(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
            else:
                archive.addfile(info)
    return path


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def test_make_tarball_merges_hosts_and_the_first_host_wins(tmp_path: Path) -> None:
    for host, text in (("algo-1", "one"), ("algo-2", "two")):
        (tmp_path / host / "model" / "sub").mkdir(parents=True)
        (tmp_path / host / "model" / "shared.txt").write_text(text)
        (tmp_path / host / "model" / "sub" / f"{host}.txt").write_text(text)
    tarball = make_tarball([tmp_path / h / "model" for h in ("algo-1", "algo-2")], tmp_path / "model.tar.gz")
    out = tmp_path / "out"
    names = safe_extract(tarball, out)
    assert sorted(n for n in names if n.endswith(".txt")) == ["shared.txt", "sub/algo-1.txt", "sub/algo-2.txt"]
    assert (out / "shared.txt").read_text() == "one"
    assert (out / "sub" / "algo-2.txt").read_text() == "two"


@pytest.mark.parametrize(
    ("member", "data", "message"),
    [
        (_file("../escape.txt"), b"x", "points outside the model folder"),
        (_file("a/../../escape.txt"), b"x", "points outside the model folder"),
        (_file("/tmp/absolute.txt"), b"x", "absolute path"),
        (_special("link", tarfile.SYMTYPE, "/etc/passwd"), None, "symbolic link"),
        (_special("hard", tarfile.LNKTYPE, "model.json"), None, "hard link"),
        (_special("dev", tarfile.CHRTYPE), None, "device, FIFO"),
        (_special("fifo", tarfile.FIFOTYPE), None, "device, FIFO"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink", "chardev", "fifo"],
)
def test_hostile_members_are_refused_and_nothing_is_written(tmp_path: Path, member: tarfile.TarInfo,
                                                            data: bytes | None, message: str) -> None:
    archive = _archive(tmp_path / "model.tar.gz", [(_file("model.json"), b"{}"), (member, data)])
    destination = tmp_path / "deep" / "model"
    with pytest.raises(UnsafeArchiveError, match=message) as raised:
        safe_extract(archive, destination)
    assert repr(member.name) in str(raised.value)
    assert not (destination / "model.json").exists()  # checked before anything was extracted
    assert not (tmp_path / "deep" / "escape.txt").exists()


def test_a_file_that_is_not_a_tarball_gets_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "model.tar.gz"
    bogus.write_bytes(b"this is not gzip")
    with pytest.raises(ModelArchiveError, match="not a readable .tar.gz model archive"):
        safe_extract(bogus, tmp_path / "out")
