"""Writing files so readers never see half of one, and listing a folder's files: shared by the
site folder, the cache and the hashing of inputs."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Collection
from pathlib import Path

from tenantdocs.errors import Location, Problem, PublishError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_NEW_FILE_MODE = 0o666 & ~_umask()
"""The mode ``open()`` gives a new file in this process (read at import, before any thread:
reading the umask means setting it)."""


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so readers see the old or the new content, never a part.

    The file gets the mode any new file gets (``mkstemp`` would leave it readable by its
    owner only: a web server could not serve the tenant directory). Raises
    :class:`PublishError` naming ``path`` when it cannot be written (disk full, …).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as stream:
            os.fchmod(stream.fileno(), _NEW_FILE_MODE)
            stream.write(data)
        Path(temp).replace(path)
    except BaseException as exc:
        Path(temp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise cannot_write(path, exc) from None
        raise


def write_own(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` as a file of its own: a file that is already only its own
    is rewritten in place (a new file costs a new inode); a link, hard or symbolic, is
    replaced, never written through (that would change the file it shares)."""
    try:
        found = path.lstat()
    except FileNotFoundError:
        pass
    else:
        if stat.S_ISLNK(found.st_mode) or found.st_nlink > 1:
            path.unlink()
    path.write_bytes(data)


def cannot_write(path: Path, exc: OSError) -> PublishError:
    """The error for a file or folder that cannot be written, naming it."""
    return PublishError(Problem(Location(path), f"cannot write: {exc.strerror or exc}"))


def files_under(root: Path, leave: Collection[str] = ()) -> list[tuple[str, Path]]:
    """(path relative to ``root``, '/'-separated; path) of everything under ``root`` that is
    not a folder, but the ``leave`` ones, sorted as paths are: folders are not followed
    through links, and an unreadable one lists nothing. One listing per folder and no path
    object per level (a templates folder of 750 apps: a fifth of the time of ``rglob``)."""
    found: list[tuple[tuple[str, ...], Path]] = []
    for folder, _, names in os.walk(root):
        parts = Path(folder).relative_to(root).parts  # a path per folder, not per file
        for name in names:
            if "/".join((*parts, name)) not in leave:
                found.append(((*parts, name), Path(folder, name)))
    return [("/".join(parts), path) for parts, path in sorted(found)]
