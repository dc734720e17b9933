"""Edit → visible in the live preview: tenantdocs ``serve`` against ``mkdocs serve --dirty``.

Makes one tenant that uses every guide of a generated catalogue
(``../shared/bench/make_workload.py 1 PAGES``), lays the same guides out as a
mkdocs-macros user would (``../shared/bench/peer_macros.sh``), starts both live servers,
then edits one guide at a time, alternating between the two, and measures the time from
writing the file to the HTTP server answering with the new page (the rebuilt page is on
disk and the live-reload signal sent). Then tenantdocs alone: a shared part edit and
tenant file edits.

    python benchmarks/serve_edit.py [--pages 750] [--edits 5]

Needs mkdocs, mkdocs-material and mkdocs-macros-plugin (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO.parent / "shared" / "bench"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=750, help="guides in the catalogue")
    parser.add_argument("--edits", type=int, default=5, help="guide edits per server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="serve-edit-") as tmp:
        root = Path(tmp)
        work = root / "workload"
        subprocess.run(
            [sys.executable, str(BENCH / "make_workload.py"), "1", str(args.pages), str(work)],
            check=True,
        )
        peer = root / "peer"
        env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
        print("laying out the peer (one mkdocs build)…", flush=True)
        subprocess.run(["bash", str(BENCH / "peer_macros.sh"), str(work), str(peer)], check=True)
        # Made now: made later, the folder would be a rebuild of its own, racing the one
        # the shared part's file makes.
        (work / "templates" / "_").mkdir(exist_ok=True)
        guide = "app-100"
        ours_cmd = [
            sys.executable,
            str(REPO / "build.py"),
            "serve",
            "--tenant",
            "tenant-000",
            "--templates",
            str(work / "templates"),
            "--tenants",
            str(work / "tenants"),
            "--port",
        ]
        peer_cmd = ["mkdocs", "serve", "--dirty", "-f", "tenant-000.mkdocs.yml", "-a"]
        print("starting both servers (each builds the whole site first)…", flush=True)
        with (
            running(ours_cmd, root / "ours.log", cwd=root, env=env, address=False) as ours,
            running(peer_cmd, root / "peer.log", cwd=peer, env=env, address=True) as theirs,
        ):
            ours_url = f"{ours}/tenant-000/{guide}/index.html"
            peer_url = f"{theirs}/{guide}/"
            wait_until(ours_url, "App 100 Cloud", 900)
            wait_until(peer_url, "App 100 Cloud", 900)
            ours_guide = work / "templates" / guide / "sso_configure.md"
            peer_guide = peer / "docs" / guide / "index.md"
            times: dict[str, list[float]] = {"tenantdocs serve": [], "mkdocs serve --dirty": []}
            for i in range(args.edits):
                marker = f"Edited guide {i} {time.monotonic_ns()}"
                times["tenantdocs serve"].append(append_and_wait(ours_guide, marker, ours_url))
                times["mkdocs serve --dirty"].append(append_and_wait(peer_guide, marker, peer_url))
            print(f"\none guide edited → visible, {args.pages} guides, {args.edits} edits each")
            print("| server | median | min | max |\n| --- | --- | --- | --- |")
            for name, found in times.items():
                print(
                    f"| {name} | {statistics.median(found):.2f} s | {min(found):.2f} s"
                    f" | {max(found):.2f} s |"
                )
            log = root / "ours.log"
            shared = work / "templates" / "_" / "sso_suffix.md"
            # Rebuilds that run MkDocs over every page show the page being viewed (the one
            # this script asks for) first: both times are printed.
            both = shown_and_built(log, shared, "Shared suffix 1\n", ours_url, "Shared suffix 1")
            print(f"\ntenantdocs, a shared part added (every guide uses it): {both}")
            both = shown_and_built(log, shared, "Shared suffix 2\n", ours_url, "Shared suffix 2")
            print(f"tenantdocs, that shared part edited: {both}")
            # A new app: a page more in the navigation, so a full build, but every other
            # page's Markdown is as before (not converted again).
            shutil.copytree(work / "templates" / "app-001", root / "app-new")
            took, said = rebuilt(  # moved in whole, as an editor would save it
                log, lambda: (root / "app-new").rename(work / "templates" / "app-new")
            )
            print(
                f"tenantdocs, an app added (a page more in the navigation): {took:.2f} s ({said})"
            )
            tenant = work / "tenants" / "tenant-000.yml"
            text = tenant.read_text()
            # Every app is planned again (the tenant file changed), no page changes (a comment
            # at the end moves no line the pages cite): timed until the server says so.
            took, said = rebuilt(log, lambda: tenant.write_text(text + "# a comment\n"))
            print(f"tenantdocs, a tenant file edit that changes no page: {took:.2f} s ({said})")
            # A line on top: every value's place (file:line in the provenance panels) moves.
            text = "# the tenant file of tenant-000\n" + tenant.read_text()
            took, said = rebuilt(log, lambda: tenant.write_text(text))
            print(f"tenantdocs, a line added on top of the tenant file: {took:.2f} s ({said})")
            # The sign-on and sign-out URLs, equal before and after: only values change, so
            # the kept MkDocs output is filled in again (no MkDocs run).
            new = text.replace("/saml2\n", "/saml2/edited\n")
            took = write_and_wait(tenant, new, ours_url, "saml2/edited")
            print(f"tenantdocs, a tenant-wide value edited (every guide shows it): {took:.2f} s")
            # Only one of the two: each has its own sentinel, so only values change again.
            new = new.replace("/saml2/edited\n", "/saml2/split\n", 1)
            took = write_and_wait(tenant, new, ours_url, "saml2/split")
            print(f"tenantdocs, one of two equal values edited: {took:.2f} s")
            # The URLs from a metadata file instead, then that file edited.
            shutil.copyfile(
                REPO / "tenants" / "contoso" / "litware-crm.xml", tenant.parent / "idp.xml"
            )
            lines = [line for line in new.splitlines() if "/saml2" not in line]
            new = "\n".join([*lines, "metadata_file: idp.xml", ""])
            moved = "11bb11bb-cc22-dd33-ee44-55ff55ff55ff/saml2"
            both = shown_and_built(log, tenant, new, ours_url, moved)
            print(f"tenantdocs, the URLs moved to a metadata file (tenant file edit): {both}")
            idp = tenant.parent / "idp.xml"
            xml = idp.read_text().replace('/saml2"', '/saml2/v2"')
            took = write_and_wait(idp, xml, ours_url, "saml2/v2")
            print(f"tenantdocs, that metadata file edited (every guide shows it): {took:.2f} s")
        samples(root, env)
    return 0


def samples(root: Path, env: dict[str, str]) -> None:
    """The sample tenant (five guides): a tenant file edit and a metadata file edit."""
    shutil.copytree(REPO / "templates", root / "samples" / "templates")
    shutil.copytree(REPO / "tenants", root / "samples" / "tenants")
    command = [sys.executable, str(REPO / "build.py"), "serve", "--tenant", "contoso", "--port"]
    with running(
        command, root / "samples.log", cwd=root / "samples", env=env, address=False
    ) as base:
        url = f"{base}/contoso/litware-crm/index.html"
        wait_until(url, "Litware CRM", 300)
        tenant = root / "samples" / "tenants" / "contoso.yml"
        text = tenant.read_text().replace("ChangePassword.aspx", "ChangePassword.aspx?v=2")
        travel = f"{base}/contoso/tailspin-travel/index.html"
        took = write_and_wait(tenant, text, travel, "ChangePassword.aspx?v=2")
        print(f"\nsamples (contoso, 5 guides), a tenant-wide value edited: {took:.2f} s")
        metadata = root / "samples" / "tenants" / "contoso" / "litware-crm.xml"
        text = metadata.read_text().replace('/saml2"', '/saml2/v2"')
        took = write_and_wait(metadata, text, url, "saml2/v2")
        print(f"samples, a metadata file edited: {took:.2f} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(
    command: list[str], log: Path, *, cwd: Path, env: dict[str, str], address: bool
) -> Iterator[str]:
    """Run a server on a free port until the block ends; yield its base URL."""
    port = free_port()
    argument = f"127.0.0.1:{port}" if address else str(port)
    with log.open("w") as out:
        process = subprocess.Popen(
            [*command, argument], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            # Stopped as a writer stops it (Ctrl-C): `mkdocs serve` removes its temporary
            # site then, and leaves it behind (hundreds of MB at 750 guides) on SIGTERM.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def fetch(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode("utf-8"))
    except OSError:  # not serving yet, or busy
        return ""


def wait_until(url: str, marker: str, seconds: float, started: float | None = None) -> float:
    """Poll ``url`` until it shows ``marker``; return the seconds since ``started``."""
    started = time.perf_counter() if started is None else started
    while time.perf_counter() - started < seconds:
        if marker in fetch(url):
            return time.perf_counter() - started
        time.sleep(0.01)
    raise SystemExit(f"{url} did not show {marker!r} within {seconds} s")


def rebuilt(log: Path, write: Callable[[], object]) -> tuple[float, str]:
    """Seconds from ``write`` to the server's next rebuild line, and what that line says."""
    done = log.read_text().count("preview: tenant-000 built")
    started = time.perf_counter()
    write()
    while (text := log.read_text()).count("preview: tenant-000 built") == done:
        time.sleep(0.01)
    took = time.perf_counter() - started
    line = text.rsplit("preview: tenant-000 built (", 1)[1].split(")", 1)[0]
    return took, line


def shown_and_built(log: Path, path: Path, text: str, url: str, marker: str) -> str:
    """Write ``text`` to ``path``: the seconds until ``url`` shows ``marker``, and until the
    server says it rebuilt the whole site (with what it says), as one line."""
    shown: list[float] = []

    def write() -> None:
        shown.append(write_and_wait(path, text, url, marker))

    built, line = rebuilt(log, write)
    return f"the page viewed {shown[0]:.2f} s, the whole site {built:.2f} s ({line})"


def append_and_wait(path: Path, marker: str, url: str) -> float:
    text = path.read_text(encoding="utf-8")
    return write_and_wait(path, f"{text}\n{marker}\n", url, marker)


def write_and_wait(path: Path, text: str, url: str, marker: str) -> float:
    """Write ``text`` to ``path``; return the seconds until ``url`` shows ``marker``."""
    started = time.perf_counter()
    path.write_text(text, encoding="utf-8")
    return wait_until(url, marker, 600, started)


if __name__ == "__main__":
    if shutil.which("mkdocs") is None:
        raise SystemExit("mkdocs is not on PATH")
    sys.exit(main())
