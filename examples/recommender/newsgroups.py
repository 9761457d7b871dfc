"""The 20 Newsgroups "bydate" corpus, read offline from its archive in scikit-learn's order.

``load_20newsgroups("train")`` gives the same texts, labels and category names, in the same order, as
``sklearn.datasets.fetch_20newsgroups(subset="train")`` (defaults ``shuffle=True, random_state=42``), but streams
the ``20news-bydate.tar.gz`` archive with :mod:`tarfile` instead of downloading it. Only when no archive can be found
does it fall back to scikit-learn's downloader (which needs network).

Where the archive is looked for (:func:`default_archive`): the ``NEWSGROUPS_ARCHIVE`` environment variable, then
``shared/data/20newsgroups/20news-bydate.tar.gz`` beside or inside the repository (and the current directory).
When the archive is named but missing, or none is found and the download fails, :class:`CorpusNotFound` says so in
one line (the main job prints it as is, with its ``--archive`` option).
"""

from __future__ import annotations

import os
import re
import tarfile
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np

ARCHIVE_ENV = "NEWSGROUPS_ARCHIVE"
ARCHIVE_NAME = "20news-bydate.tar.gz"
_RELATIVE = Path("shared", "data", "20newsgroups", ARCHIVE_NAME)
_SUBSETS = ("train", "test", "all")
_MEMBER = re.compile(r"^(?:\./)?20news-bydate-(train|test)/([^/]+)/([^/]+)$")

#: The 20 group names, sorted as scikit-learn's ``load_files`` sorts the folders; label ``i`` is ``CATEGORIES[i]``.
CATEGORIES: tuple[str, ...] = (
    "alt.atheism", "comp.graphics", "comp.os.ms-windows.misc", "comp.sys.ibm.pc.hardware", "comp.sys.mac.hardware",
    "comp.windows.x", "misc.forsale", "rec.autos", "rec.motorcycles", "rec.sport.baseball", "rec.sport.hockey",
    "sci.crypt", "sci.electronics", "sci.med", "sci.space", "soc.religion.christian", "talk.politics.guns",
    "talk.politics.mideast", "talk.politics.misc", "talk.religion.misc",
)


class CorpusNotFound(FileNotFoundError):
    """The 20 Newsgroups archive is not where it was said to be, or there is none and the download failed."""


class Newsgroups(NamedTuple):
    """One subset: ``texts[i]`` is a post, ``labels[i]`` its group id (int64) into ``categories``."""

    texts: list[str]
    labels: np.ndarray
    categories: list[str]


def clean(text: str, remove: Iterable[str] = ("headers", "footers", "quotes")) -> str:
    """Remove headers, signature footers and quoted lines with scikit-learn's helpers, in ``fetch_20newsgroups``'s
    order (headers, footers, quotes). ``remove`` takes the same names as ``fetch_20newsgroups(remove=...)``."""
    # Public name, private module: scikit-learn exports these helpers only from here.
    from sklearn.datasets._twenty_newsgroups import (
        strip_newsgroup_footer,
        strip_newsgroup_header,
        strip_newsgroup_quoting,
    )

    remove = set(remove)
    unknown = remove - {"headers", "footers", "quotes"}
    if unknown:
        raise ValueError(f"remove: unknown part(s) {sorted(unknown)}; use 'headers', 'footers', 'quotes'")
    if "headers" in remove:
        text = strip_newsgroup_header(text)
    if "footers" in remove:
        text = strip_newsgroup_footer(text)
    if "quotes" in remove:
        text = strip_newsgroup_quoting(text)
    return text


def default_archive() -> Path | None:
    """The archive to read, or ``None`` when there is none (then the loader falls back to scikit-learn).

    ``$NEWSGROUPS_ARCHIVE`` wins; if it is set but names no file, that is an error rather than a silent download.
    Otherwise ``shared/data/20newsgroups/20news-bydate.tar.gz`` is looked for in the repository's parent and the
    repository itself (``../shared`` is this workspace's layout), then in the current directory and its parent.
    """
    configured = os.environ.get(ARCHIVE_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise CorpusNotFound(f"${ARCHIVE_ENV}={configured!r} names no file; point it at {ARCHIVE_NAME}")
        return path
    repo = Path(__file__).resolve().parents[2]
    cwd = Path.cwd()
    for base in (repo.parent, repo, cwd, cwd.parent):
        candidate = base / _RELATIVE
        if candidate.is_file():
            return candidate
    return None


def resolve_archive(archive: Path | str | None) -> Path | None:
    """``archive`` as a path to an existing file, or :func:`default_archive` when ``None``; :class:`CorpusNotFound`
    when a named archive is missing (``None`` back means: none here, scikit-learn's downloader is the fallback)."""
    if archive is None:
        return default_archive()
    path = Path(archive).expanduser()
    if not path.is_file():
        raise CorpusNotFound(f"20 Newsgroups archive not found: {path}")
    return path


def _read_archive(
    archive: Path, subsets: tuple[str, ...], limit: int | None, progress: Callable[[str], None] | None
) -> tuple[dict[str, list[tuple[str, str, str]]], set[str]]:
    """``{subset: [(category, file name, text), ...]}`` for the wanted subsets, plus every category folder seen."""
    found: dict[str, list[tuple[str, str, str]]] = {s: [] for s in subsets}
    folders: set[str] = set()
    # "r|gz" streams the gzip once, front to back; nothing is extracted to disk.
    with tarfile.open(archive, mode="r|gz") as tar:
        for member in tar:
            if limit is not None and all(len(posts) >= limit for posts in found.values()):
                break
            match = _MEMBER.match(member.name)
            if not match or not member.isfile():
                continue
            subset, category, name = match.groups()
            folders.add(category)
            if subset not in found or (limit is not None and len(found[subset]) >= limit):
                continue
            handle = tar.extractfile(member)
            assert handle is not None
            found[subset].append((category, name, handle.read().decode("latin-1")))
    if progress:
        progress(f"read {sum(len(v) for v in found.values())} posts from {archive}")
    return found, folders


def load_20newsgroups(
    subset: str,
    archive: Path | None = None,
    *,
    remove: Iterable[str] = (),
    shuffle: bool = True,
    random_state: int = 42,
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Newsgroups:
    """Texts, group ids and the 20 group names of ``subset`` ("train", "test" or "all").

    Order: as ``fetch_20newsgroups`` with the same ``shuffle``/``random_state``: per subset, files sorted by category
    folder and file name then shuffled by ``RandomState(0)`` (``load_files``' default, baked into scikit-learn's
    cache), "all" = train then test, then ``RandomState(random_state).shuffle`` when ``shuffle``. ``remove`` as in
    ``fetch_20newsgroups`` (applied in its order: headers, footers, quotes).

    ``archive``: the 20news-bydate tar.gz; ``None`` = :func:`default_archive`, and if that finds none, scikit-learn's
    downloader (``limit`` then applies after the download). ``limit``: keep only the first ``limit`` posts of each
    subset in archive order (before shuffling), for quick tests; reading stops as soon as it has them.
    """
    if subset not in _SUBSETS:
        raise ValueError(f"subset must be one of {_SUBSETS}, not {subset!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be positive, not {limit}")
    archive = resolve_archive(archive)
    if archive is None:
        return _fetch_with_sklearn(subset, remove, shuffle, random_state, limit)

    parts = ("train", "test") if subset == "all" else (subset,)
    found, folders = _read_archive(archive, parts, limit, progress)
    if limit is None and folders != set(CATEGORIES):
        raise ValueError(f"{archive}: expected the 20 bydate group folders, found {sorted(folders)}")
    texts: list[str] = []
    labels: list[int] = []
    index = {name: i for i, name in enumerate(CATEGORIES)}
    for part in parts:
        if not found[part]:
            raise ValueError(f"{archive}: no posts under 20news-bydate-{part}/")
        # scikit-learn's cache is load_files(...) per subset: folders sorted, file names sorted as strings, then
        # load_files' own default shuffle (RandomState(0)); fetch_20newsgroups shuffles once more on top.
        posts = sorted(found[part], key=lambda post: (post[0], post[1]))
        order = np.arange(len(posts))
        np.random.RandomState(0).shuffle(order)
        texts.extend(posts[i][2] for i in order)
        labels.extend(index[posts[i][0]] for i in order)
    target = np.asarray(labels, dtype=np.int64)
    if remove:
        texts = [clean(text, remove) for text in texts]
    if shuffle:
        order = np.arange(target.shape[0])
        np.random.RandomState(random_state).shuffle(order)
        texts = [texts[i] for i in order]
        target = target[order]
    return Newsgroups(texts, target, list(CATEGORIES))


def _fetch_with_sklearn(
    subset: str, remove: Iterable[str], shuffle: bool, random_state: int, limit: int | None
) -> Newsgroups:
    from sklearn.datasets import fetch_20newsgroups

    try:
        with warnings.catch_warnings():  # its retries warn once each; the error below says it all in one line
            warnings.filterwarnings("ignore", message="Retry downloading", category=UserWarning)
            bunch = fetch_20newsgroups(subset=subset, remove=tuple(remove), shuffle=shuffle,
                                       random_state=random_state)
    except OSError as error:  # urllib's URLError, a refused connection, a DNS failure: all OSErrors
        reason = " ".join(str(getattr(error, "reason", None) or error).split())
        raise CorpusNotFound(f"no {ARCHIVE_NAME} found (${ARCHIVE_ENV} is not set and shared/data/20newsgroups/ "
                             f"has none) and scikit-learn could not download it: {reason}") from error
    texts, target = list(bunch.data), np.asarray(bunch.target, dtype=np.int64)
    if limit is not None:
        texts, target = texts[:limit], target[:limit]
    return Newsgroups(texts, target, list(bunch.target_names))
