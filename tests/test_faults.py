"""Faults while publishing: killed builds, unwritable or full site folders, broken caches,
two builds at once. Nothing published is ever lost or half-written.

Real processes are killed with SIGKILL; a real read-only file system and a real full disk
are made in a user namespace (``unshare``) where the machine allows it. Each test names the
defence it proves; SECURITY.md maps the faults to these tests.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, build, tree_digest
from idp import make_metadata
from pytest_httpserver import HTTPServer

from tenantdocs import cache, files, publish
from tenantdocs.fetch import LOOPBACK_ENV, TIMEOUT_ENV

LOCKED = "site: error: another tenantdocs build is using this site folder; try again when it ends"
TENANTS = 12  # enough that a build killed while publishing has tenants on both sides


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sample templates and tenants plus copies of contoso; the working directory."""
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    shutil.copytree(REPO / "tenants", tmp_path / "tenants")
    contoso = (tmp_path / "tenants" / "contoso.yml").read_text(encoding="utf-8")
    for index in range(TENANTS - 2):
        copy = contoso.replace("name: Contoso Ltd", f"name: Contoso Branch {index}")
        (tmp_path / "tenants" / f"branch-{index:02}.yml").write_text(copy, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def published(site: Path = Path("site")) -> dict[str, dict[str, str]]:
    """Each tenant's site folder, digested (the tool's state folder aside)."""
    return {
        p.name: tree_digest(p)
        for p in sorted(site.iterdir())
        if p.is_dir() and p.name != publish.STATE
    }


def leftovers(site: Path = Path("site")) -> list[str]:
    """What an interrupted build left in the state folder (staging, swapped-out, trash)."""
    state = site / publish.STATE
    return sorted(
        p.relative_to(state).as_posix()
        for name in ("staging", "old", "trash")
        if (state / name).is_dir()
        for p in (state / name).iterdir()
    )


def cli(*args: str) -> list[str]:
    """The command line that runs this checkout's tool in another process."""
    return [sys.executable, str(REPO / "build.py"), *args]


# --- a build killed in the middle -----------------------------------------------------------


def staging_has_content() -> bool:
    staging = Path("site", publish.STATE, "staging")
    return staging.is_dir() and any(staging.iterdir())


def _inodes() -> dict[str, int]:
    found = {}
    for path in Path("site").iterdir():
        try:
            if path.is_dir():
                found[path.name] = path.stat().st_ino
        except FileNotFoundError:  # swapped out by the build between listing and looking
            continue
    return found


@pytest.mark.parametrize("moment", ["while staging", "after a tenant was swapped in"])
def test_killed_build_loses_nothing_and_the_next_build_recovers(project: Path, moment: str) -> None:
    # Defences: publish.staging_dir/swap_in (a tenant is built aside and swapped in by two
    # renames, never written in place) and publish.recover (run first by every build: puts
    # back a site swapped out by a killed build, drops staging leftovers).
    assert build() == 0
    before = published()
    assert len(before) == TENANTS
    first: dict[str, int] = _inodes()

    def swapped() -> bool:
        now = _inodes()
        return any(now.get(slug) not in (None, inode) for slug, inode in first.items())

    ready: Callable[[], bool] = staging_has_content if moment == "while staging" else swapped
    # --force rebuilds every tenant from the same inputs: byte-identical sites, so any
    # difference below is damage, not a legitimate change.
    process = subprocess.Popen(
        cli("build", "--jobs", "1", "--force"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    try:
        while not ready() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
    finally:
        process.send_signal(signal.SIGKILL)  # also when watching it failed: never left running
        killed = process.wait()
    assert killed == -signal.SIGKILL, "the build ended before it could be killed"

    # Every tenant is whole: in place, or (killed between the two renames) swapped out.
    state = Path("site", publish.STATE)
    for slug, digest in before.items():
        if Path("site", slug).is_dir():
            assert tree_digest(Path("site", slug)) == digest, slug
        else:
            [aside] = (state / "old").glob(f"{slug}.*")
            assert tree_digest(aside) == digest, slug

    # The next build needs no manual clean-up: it restores, skips what is up to date, tidies.
    assert build() == 0
    assert published() == before
    assert leftovers() == []


def test_build_killed_between_the_two_renames_is_restored(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Defence: publish.recover. This is the one moment a tenant has no site/<slug>: swap_in
    # moved the old site aside and died before moving the new one in.
    assert build("--tenant", "contoso", "--tenant", "fabrikam") == 0
    before = published()
    old = Path("site", publish.STATE, "old")
    old.mkdir(parents=True, exist_ok=True)
    Path("site", "contoso").rename(old / "contoso.k1ll3d")
    half_built = Path("site", publish.STATE, "staging", "fabrikam.x1y2z3", "site")
    half_built.mkdir(parents=True)
    (half_built / "index.html").write_text("half a site", encoding="utf-8")
    capsys.readouterr()

    assert build("--tenant", "contoso", "--tenant", "fabrikam") == 0
    assert published() == before
    assert leftovers() == []
    # Restored before anything was planned: the tenant was up to date, nothing was rebuilt.
    assert "contoso: unchanged" in capsys.readouterr().out


def test_recover_puts_back_only_what_is_missing(tmp_path: Path) -> None:
    # Defence: publish.recover restores a swapped-out site only when site/<slug> is gone;
    # when the new site made it in, the swapped-out one is the stale copy and is dropped.
    site = tmp_path / "site"
    old = site / publish.STATE / "old"
    (old / "a.123").mkdir(parents=True)
    (old / "a.123" / "index.html").write_text("a, previous")
    (old / "b.456").mkdir()
    (old / "b.456" / "index.html").write_text("b, previous")
    (site / "b").mkdir()
    (site / "b" / "index.html").write_text("b, new")
    assert publish.recover(site) == ["a"]
    assert (site / "a" / "index.html").read_text() == "a, previous"
    assert (site / "b" / "index.html").read_text() == "b, new"
    assert list(old.iterdir()) == []


# --- a site folder that cannot be written ---------------------------------------------------


def test_something_in_the_way_of_the_state_folder_is_a_clear_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Defence: publish.site_lock turns the failure into a PublishError (exit 2). Tests run
    # as root here, where chmod 0o555 stops nothing; a file where the tool's state folder
    # must be is a failure root meets too. (A real read-only mount is the next test.)
    assert build("--tenant", "contoso") == 0
    before = published()
    shutil.rmtree(Path("site", publish.STATE))
    Path("site", publish.STATE).write_text("not a folder", encoding="utf-8")
    capsys.readouterr()
    assert build("--force") == 2
    assert capsys.readouterr().err == "site: error: cannot write the site folder: File exists\n"
    assert published() == before


def test_staging_leftover_that_is_a_file_is_cleaned_up(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Defence: publish.recover clears whatever is at the staging path. Before, a file there
    # crashed every later build with a FileExistsError traceback.
    assert build("--tenant", "contoso") == 0
    before = published()
    staging = Path("site", publish.STATE, "staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.write_text("left by something else", encoding="utf-8")
    assert build("--tenant", "contoso", "--force") == 0
    assert published() == before
    assert staging.is_dir()


def _unshare(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a shell script as root of a new user and mount namespace (real mounts, no sudo)."""
    return subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-euc", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def namespaces() -> None:
    """Skip unless this machine lets an unprivileged process mount in a user namespace."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare command")
    probe = subprocess.run(
        [
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-euc",
            'd=$(mktemp -d); mount -t tmpfs -o size=64k tmpfs "$d"; umount "$d"; rmdir "$d"',
        ],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount in a user namespace: {probe.stderr.strip()}")


@pytest.mark.usefixtures("namespaces")
def test_read_only_site_folder_is_a_clear_error(project: Path) -> None:
    # Defence: publish.site_lock maps the lock file's OSError to PublishError. Before, a
    # read-only site folder ended the build with a filelock traceback.
    assert build("--tenant", "contoso", "--tenant", "fabrikam") == 0
    before = published()
    command = " ".join(cli("build", "--jobs", "1", "--force"))
    ran = _unshare(f"mount --bind site site; mount -o remount,bind,ro site; {command}", project)
    assert (ran.returncode, ran.stderr) == (
        2,
        "site: error: cannot write the site folder: Read-only file system\n",
    )
    assert published() == before


FILL_DISK = """
mkdir disk
mount -t tmpfs -o size=16m tmpfs disk
cp -a site disk/site
free=$(df --output=avail -B1 disk | tail -1)
head -c $((free - {leave})) /dev/zero > disk/filler || true
set +e
{command} --site disk/site > out.txt 2> err.txt
echo $? > status.txt
set -e
cp -a disk/site after
"""


@pytest.mark.usefixtures("namespaces")
@pytest.mark.parametrize(
    ("leave", "status", "expected"),
    [
        (0, 2, "disk/site: error: cannot write the site folder: No space left on device"),
        (96 * 1024, 1, "No space left on device"),
    ],
    ids=["full", "nearly full"],
)
def test_full_disk_is_a_clear_error_and_previous_sites_stay(
    project: Path, leave: int, status: int, expected: str
) -> None:
    # Defences: publish.recover checks the site folder can be written before building (a
    # full disk: one error, exit 2); a tenant whose build or publication runs out of space
    # fails alone with its previous site (exit 1); publish.write_atomic turns ENOSPC into a
    # PublishError. Before, a full disk ended in a traceback from writing site/index.html.
    assert build("--tenant", "contoso", "--tenant", "fabrikam") == 0
    before = published()
    command = " ".join(
        cli("build", "--jobs", "1", "--force", "--tenant", "contoso", "--tenant", "fabrikam")
    )
    ran = _unshare(FILL_DISK.format(leave=leave, command=command), project)
    assert ran.returncode == 0, ran.stderr
    err = Path("err.txt").read_text(encoding="utf-8")
    assert int(Path("status.txt").read_text()) == status, err
    assert expected in err
    assert "Traceback" not in err
    assert published(Path("after")) == before
    assert [p for p in leftovers(Path("after")) if not p.startswith("staging/")] == []


def test_write_failures_are_clear_errors_without_a_real_full_disk(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same defence as above (files.write_atomic → PublishError) where no disk can be
    # filled: every atomic write (manifests, the tenant directory) fails with ENOSPC. This
    # is the only simulated fault in this file. It replaces what ``files`` (the atomic
    # writer under ``publish`` and the cache) sees as its ``tempfile`` module, for one build: the stdlib module itself stays as it is for
    # everyone else (MkDocs, pytest).
    assert build("--tenant", "contoso") == 0
    before = published()
    directory = Path("site", "index.html").read_bytes()
    # The directory is written again only when its entries change: unknown here.
    Path("site", ".tenantdocs", "directory.sha256").unlink()

    def no_space(*args: object, **kwargs: object) -> tuple[int, str]:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    # Only the atomic writes fail: staging folders and the start-of-build probe still work.
    no_space_tempfile = types.ModuleType("tempfile")
    no_space_tempfile.__dict__.update(vars(tempfile))
    no_space_tempfile.mkstemp = no_space  # type: ignore[attr-defined]
    monkeypatch.setattr(files, "tempfile", no_space_tempfile)
    capsys.readouterr()
    # The tenant fails on its manifest (its previous site stays), then the run stops on the
    # tenant directory, which every tenant shares: exit 2 with that file named.
    assert build("--tenant", "contoso", "--force") == 2
    assert capsys.readouterr() == (
        "contoso: failed (previous site kept)\n",
        "site/index.html: error: cannot write: No space left on device\n",
    )
    assert published() == before
    assert Path("site", "index.html").read_bytes() == directory
    assert tempfile.mkstemp is not no_space  # the stdlib module itself was never touched


# --- the metadata cache ---------------------------------------------------------------------

GUIDE = "Sign-on URL: %metadata:singleSignOnServiceUrl%\n"


@pytest.fixture
def fetching(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer) -> str:
    """One app, one tenant whose metadata is fetched from a loopback server; returns the URL."""
    (tmp_path / "templates" / "demo").mkdir(parents=True)
    (tmp_path / "templates" / "demo" / "sso_configure.md").write_text(GUIDE, encoding="utf-8")
    (tmp_path / "tenants").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(LOOPBACK_ENV, "1")
    monkeypatch.setenv(TIMEOUT_ENV, "1")
    httpserver.expect_request("/metadata.xml").respond_with_data(make_metadata())
    url = httpserver.url_for("/metadata.xml")
    Path("tenants/acme.yml").write_text(f"name: Acme\nmetadata_url: {url}\n", encoding="utf-8")
    return url


def cached_files(url: str) -> tuple[Path, Path]:
    folder = Path(".cache", "metadata", hashlib.sha256(url.encode()).hexdigest()[:32])
    return folder / "metadata.xml", folder / "entry.json"


@pytest.mark.parametrize(
    "damage", ["truncated document", "truncated entry", "entry of another URL"]
)
def test_damaged_cache_is_refetched_or_a_clear_error_offline(
    fetching: str, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Defence: cache.read_entry checks the entry and the document's SHA-256; a damaged copy
    # counts as absent (never published). Unit tests of read_entry are in test_fetch.py.
    url = fetching
    assert build() == 0
    document, entry = cached_files(url)
    good = document.read_bytes()
    if damage == "truncated document":
        document.write_bytes(good[: len(good) // 2])
    elif damage == "truncated entry":
        entry.write_text(entry.read_text()[:40])
    else:
        entry.write_text(json.dumps({**json.loads(entry.read_text()), "url": url + "?x"}))
    capsys.readouterr()
    assert build("--offline", "--force") == 1
    assert capsys.readouterr().err == (
        f"tenants/acme.yml:2:15: error: no cached metadata for {url} (--offline); build or"
        " refresh once with network access\n"
    )
    assert build("--force") == 0  # online: fetched again, and the cache is whole again
    assert cache.read_entry(Path(".cache"), url) is not None
    assert document.read_bytes() == good


def test_cache_folder_that_cannot_be_written_is_a_clear_error(
    fetching: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Defence: publish.write_atomic (used by cache.write_entry) raises PublishError with the
    # path. Before, a cache folder blocked by a file ended the build with a traceback.
    Path(".cache").write_text("not a folder", encoding="utf-8")
    assert build() == 2
    err = capsys.readouterr().err
    assert err.startswith(".cache/metadata/")
    assert err.endswith(": error: cannot write: Not a directory\n")


# --- two builds at once ---------------------------------------------------------------------

HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from filelock import FileLock
    lock = FileLock(sys.argv[1])
    lock.acquire()
    print("locked", flush=True)
    time.sleep(60)
    """
)


def test_second_build_on_a_locked_site_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Defence: publish.site_lock (filelock, no waiting). The lock is held by another process,
    # as a concurrent build would hold it.
    assert build("--tenant", "contoso") == 0
    before = published()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(Path("site", publish.STATE, "lock"))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        capsys.readouterr()
        assert build("--force") == 2
        assert capsys.readouterr().err == LOCKED + "\n"
        assert published() == before
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    assert build("--tenant", "contoso") == 0  # the lock dies with its holder


def test_two_concurrent_builds_serialise_or_refuse_and_the_site_is_whole(project: Path) -> None:
    # Defence: publish.site_lock again, now with two real builds started together: each
    # either builds alone or is refused with the lock message; the result is one whole site.
    assert build() == 0
    before = published()
    runs = [
        subprocess.Popen(
            cli("build", "--jobs", "1", "--force"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outcomes = sorted(
        (run.wait(timeout=120), run.stderr.read() if run.stderr else "") for run in runs
    )
    for run in runs:
        if run.stderr:
            run.stderr.close()
    assert outcomes[0] == (0, "")
    assert outcomes[1] in ((0, ""), (2, LOCKED + "\n"))
    assert published() == before
    assert leftovers() == []
