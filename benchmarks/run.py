#!/usr/bin/env python3
"""Benchmark tenantdocs against the peer baseline, side by side in one run.

The peer is what a user would do without tenantdocs: one ``mkdocs build`` per tenant with
mkdocs-macros-plugin (``../shared/bench/peer_macros.sh``). Both build the same generated
workload (``../shared/bench/make_workload.py``): N tenants sharing M guides that differ
only in values.

    pip install -e '.[bench]'
    python benchmarks/run.py                      # 20 x 30: peer vs tenantdocs, ratio
    python benchmarks/run.py --large              # also 500 x 50: full, no-op, one changed
    python benchmarks/run.py --realistic          # tenants with their own 30 of 750 apps:
                                                  #   20 x 30-of-750 vs peer, the same with
                                                  #   own IdP metadata, 500 x 30-of-750
                                                  #   full / no-op / peak memory, 750-guide
                                                  #   tenant vs peer
    python benchmarks/run.py --realistic --stream # also 2,000 x 30-of-750 peak memory
    python benchmarks/run.py --tenants 50 --pages 10 --jobs 2 --json results.json
    python benchmarks/run.py --fetch-only         # only the fetch workload (no peer needed)
    python benchmarks/run.py --own-pairs 3        # only 20 x own 30 of 750 vs the peer, three
                                                  #   pairs: each ratio and the median

The fetch workload (``--fetch``, on by default) serves 50 tenants x 10 apps, each app with
its own ``metadata_url`` (500 documents, each with a signing certificate), from a loopback
server answering every request after 100 ms, and times a cold ``build`` (empty site and
cache) and then ``refresh`` (every URL confirmed with a 304).

Nothing is deleted before the end of the run: this machine's file system (ext4 without a
journal) passes over every inode freed in the last one to six minutes each time it makes a
file, so removing one measurement's files would slow the file creation of the next ones,
the peer's and tenantdocs' alike (about 1.6 s of kernel time in a 20 x own 30 build here).

Times are wall clock on this machine; peak memory is the largest resident set of any
process of the run (os.wait4). Each command runs in a fresh process. tenantdocs' bytecode is
compiled first, as ``pip install`` does for an installed package and as Python does on a
first run: where ``PYTHONDONTWRITEBYTECODE`` is set (as on the machines these figures come
from), every run from a checkout would otherwise compile the package again, while the peer's
installed packages never do.
"""

from __future__ import annotations

import argparse
import base64
import compileall
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO.parent / "shared"


@dataclass
class Measurement:
    """One timed command."""

    name: str
    seconds: float
    peak_mib: float
    pages: int


def run(
    name: str, command: list[str], cwd: Path, pages: int, extra_env: dict[str, str] | None = None
) -> Measurement:
    """Run ``command`` to completion; fail loudly if it fails.

    The child's stderr goes to a file, not a pipe: a pipe read only after the child ends
    would fill up and hang both.
    """
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", **(extra_env or {})}
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=errors
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        text = errors.read().decode(errors="replace")
    if process.returncode != 0:
        sys.exit(f"{name} failed ({process.returncode}):\n{text[-2000:]}")
    return Measurement(name, seconds, usage.ru_maxrss / 1024, pages)


def workload(
    shared: Path, tenants: int, pages: int, root: Path, apps_per_tenant: int | None = None
) -> Path:
    """Generate a workload folder with templates/ and tenants/.

    With ``apps_per_tenant``, ``pages`` is the catalogue and each tenant uses its own
    random choice of that many apps.
    """
    suffix = f"of{apps_per_tenant}" if apps_per_tenant else ""
    target = root / f"w{tenants}x{pages}{suffix}"
    extra = [str(apps_per_tenant)] if apps_per_tenant else []
    subprocess.run(
        [
            sys.executable,
            str(shared / "bench" / "make_workload.py"),
            str(tenants),
            str(pages),
            str(target),
            *extra,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return target


def tenantdocs(*args: str) -> list[str]:
    return [sys.executable, str(REPO / "build.py"), *args]


def compare(
    shared: Path,
    tenants: int,
    pages: int,
    jobs: int,
    root: Path,
    apps_per_tenant: int | None = None,
) -> list[Measurement]:
    """The peer and tenantdocs on the same workload, full builds, one after the other."""
    work = workload(shared, tenants, pages, root, apps_per_tenant)
    total = tenants * (apps_per_tenant or pages)
    if shutil.which("mkdocs") is None:
        sys.exit("the peer needs mkdocs on PATH: pip install -e '.[bench]'")
    peer = run(
        "peer (mkdocs + macros, per tenant)",
        [
            "bash",
            str(shared / "bench" / "peer_macros.sh"),
            str(work),
            str(root / f"peer-{work.name}"),
        ],
        root,
        total,
    )
    ours = run(
        f"tenantdocs build --jobs {jobs}",
        tenantdocs("build", "--jobs", str(jobs), "--force"),
        work,
        total,
    )
    # The peer has no incremental mode: a pipeline reruns its full build on every change.
    noop = run("tenantdocs no-op rebuild", tenantdocs("build", "--jobs", str(jobs)), work, 0)
    return [peer, ours, noop]


def print_ratios(results: list[Measurement]) -> float:
    """Print the speed-up of a full build, and a no-op rebuild as a share of the peer's full
    build; return the speed-up."""
    peer, ours, noop = results
    ratio = peer.seconds / ours.seconds
    print(f"ratio: tenantdocs is {ratio:.1f}x faster than the peer")
    print(f"no-op rebuild: {100 * noop.seconds / peer.seconds:.1f} % of the peer's full build")
    return ratio


def realistic(shared: Path, jobs: int, root: Path, stream: bool) -> list[Measurement]:
    """Tenants with their own app sets, as real customers have, and one 750-guide tenant."""
    small = compare(shared, 20, 750, jobs, root, 30)
    print("# 20 tenants x their own 30 of 750 apps")
    report(small)
    print_ratios(small)
    own = [own_idp(root / "w20x750of30", root / "w20x750of30-own-idp", jobs)]
    print("# the same with each tenant's own IdP metadata file (no peer: macros cannot read one)")
    report(own)
    work = workload(shared, 500, 750, root, 30)
    big = [
        run("full build 500 x 30-of-750", tenantdocs("build", "--jobs", str(jobs)), work, 15000),
        run("no-op rebuild", tenantdocs("build", "--jobs", str(jobs)), work, 0),
    ]
    print("# 500 tenants x their own 30 of 750 apps")
    report(big)
    if stream:
        work = workload(shared, 2000, 750, root, 30)
        huge = [
            run(
                "full build 2000 x 30-of-750", tenantdocs("build", "--jobs", str(jobs)), work, 60000
            )
        ]
        print("# 2,000 tenants x their own 30 of 750 apps (peak memory must stay flat)")
        report(huge)
    catalogue = compare(shared, 1, 750, jobs, root)
    print("# one tenant using all 750 guides")
    report(catalogue)
    print_ratios(catalogue)
    return [*small, *own, *big, *(huge if stream else []), *catalogue]


def own_pairs(shared: Path, jobs: int, root: Path, pairs: int) -> list[Measurement]:
    """20 tenants x their own 30 of 750 apps against the peer ``pairs`` times, each pair on a
    workload of its own: each ratio, and their median (one pair moves with the machine)."""
    results: list[Measurement] = []
    ratios = []
    for pair in range(pairs):
        (root / f"pair-{pair}").mkdir()
        measured = compare(shared, 20, 750, jobs, root / f"pair-{pair}", 30)
        print(f"# pair {pair + 1} of {pairs}: 20 tenants x their own 30 of 750 apps")
        report(measured)
        ratios.append(print_ratios(measured))
        results += measured
    print(f"median of {pairs} pairs: tenantdocs is {statistics.median(ratios):.2f}x faster")
    return results


def own_idp(work: Path, target: Path, jobs: int) -> Measurement:
    """A full build of ``work``'s tenants as real ones differ: each with its own IdP metadata
    file (its signing certificate issued on another day), every other file with a comment on
    top (every value's line moves)."""
    shutil.copytree(work / "templates", target / "templates")
    shutil.copytree(work / "tenants", target / "tenants")
    tenants = sorted((target / "tenants").glob("*.yml"))
    documents = fetch_documents(len(tenants), 1)
    pages = 0
    for t, path in enumerate(tenants):
        (path.parent / f"idp-{t:03d}.xml").write_bytes(documents[f"/t{t:03d}/app-000.xml"])
        top = f"# tenant {t}, kept by the identity team\n" if t % 2 else ""
        text = path.read_text(encoding="utf-8")
        pages += text.split("apps:", 1)[1].count("\n  app-")
        path.write_text(f"{top}metadata_file: idp-{t:03d}.xml\n{text}", encoding="utf-8")
    return run(
        f"tenantdocs build --jobs {jobs}, own IdP metadata",
        tenantdocs("build", "--jobs", str(jobs), "--force"),
        target,
        pages,
    )


def large(shared: Path, tenants: int, pages: int, jobs: int, root: Path) -> list[Measurement]:
    """Full build, no-op rebuild and a one-tenant change on a large workload."""
    work = workload(shared, tenants, pages, root)
    total = tenants * pages
    results = [
        run(f"full build {tenants}x{pages}", tenantdocs("build", "--jobs", str(jobs)), work, total)
    ]
    results.append(run("no-op rebuild", tenantdocs("build", "--jobs", str(jobs)), work, 0))
    first = sorted((work / "tenants").glob("*.yml"))[0]
    first.write_text(first.read_text().replace("name: Tenant", "name: Changed Tenant", 1))
    results.append(run("one tenant changed", tenantdocs("build", "--jobs", str(jobs)), work, pages))
    return results


# --- the fetch workload: metadata URLs answered by a slow loopback server -------------------

FETCH_TENANTS = 50
FETCH_APPS = 10
FETCH_LATENCY = 0.1


def fetch_documents(tenants: int, apps: int) -> dict[str, bytes]:
    """Valid IdP metadata for every tenant x app, keyed by URL path; a certificate per tenant,
    each issued on another day."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    documents = {}
    for t in range(tenants):
        start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1 + t)  # each issued another day
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"idp-{t:03d}.example.com")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(t + 1)
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=365))
            .sign(key, hashes.SHA256())
        )
        text = base64.b64encode(cert.public_bytes(Encoding.DER)).decode("ascii")
        for a in range(apps):
            entity = f"https://idp-{t:03d}.example.com/app-{a:03d}"
            documents[f"/t{t:03d}/app-{a:03d}.xml"] = (
                '<?xml version="1.0" encoding="utf-8"?>\n'
                '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"'
                f' xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity}">'
                '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
                '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>'
                f"<ds:X509Certificate>{text}</ds:X509Certificate>"
                "</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
                '<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"'
                f' Location="{entity}/slo"/>'
                '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"'
                f' Location="{entity}/sso"/>'
                "</md:IDPSSODescriptor></md:EntityDescriptor>\n"
            ).encode()
    return documents


def slow_server(documents: dict[str, bytes], latency: float) -> ThreadingHTTPServer:
    """A loopback server answering every GET after ``latency`` seconds, with ETags (304)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real IdPs allow
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stall

        def do_GET(self) -> None:
            time.sleep(latency)
            body = documents.get(self.path)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/samlmetadata+xml")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128  # the default 5 drops connections opened together

    return Server(("127.0.0.1", 0), Handler)


def fetch_workload(
    shared: Path, jobs: int, root: Path, per_host: int | None = None
) -> list[Measurement]:
    """Cold build and refresh of 50 tenants x 10 apps, every app its own metadata URL."""
    tenants, apps = FETCH_TENANTS, FETCH_APPS
    work = workload(shared, tenants, apps, root)
    documents = fetch_documents(tenants, apps)
    server = slow_server(documents, FETCH_LATENCY)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        for t, path in enumerate(sorted((work / "tenants").glob("*.yml"))):
            entries = "".join(
                f"  app-{a:03d}:\n    metadata_url: http://127.0.0.1:{port}/t{t:03d}/app-{a:03d}.xml\n"
                for a in range(apps)
            )
            path.write_text(f"name: Tenant {t:03d}\napps:\n{entries}", encoding="utf-8")
        env = {"TENANTDOCS_ALLOW_LOOPBACK_HTTP": "1"}
        urls = tenants * apps
        limit = ["--per-host", str(per_host)] if per_host else []
        shown = f", --per-host {per_host}" if per_host else ""
        results = [
            run(
                f"cold build, {urls} URLs at {FETCH_LATENCY * 1000:.0f} ms{shown}",
                tenantdocs("build", "--jobs", str(jobs), *limit),
                work,
                urls,
                env,
            ),
            run(f"refresh, {urls} URLs (304){shown}", tenantdocs("refresh", *limit), work, 0, env),
        ]
    finally:
        server.shutdown()
        server.server_close()
    return results


def report(results: list[Measurement]) -> None:
    width = max(len(m.name) for m in results)
    for m in results:
        per_page = f"{1000 * m.seconds / m.pages:7.2f} ms/page" if m.pages else " " * 15
        print(f"{m.name.ljust(width)}  {m.seconds:8.2f} s  {per_page}  peak {m.peak_mib:7.1f} MiB")


def write_json(path: Path | None, results: list[Measurement]) -> None:
    """The measurements as JSON at ``path`` (``--json``), when one is given."""
    if path is not None:
        path.write_text(json.dumps([asdict(m) for m in results], indent=2) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--shared",
        type=Path,
        default=DEFAULT_SHARED,
        help="folder with bench/ (default: ../shared)",
    )
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--pages", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--large", action="store_true", help="also run 500 x 50 full / no-op / one changed"
    )
    parser.add_argument(
        "--realistic",
        action="store_true",
        help="also tenants with their own 30 of 750 apps (20 vs peer, 500) and a 750-guide tenant",
    )
    parser.add_argument(
        "--stream", action="store_true", help="with --realistic: also 2,000 x 30-of-750"
    )
    parser.add_argument("--json", type=Path, help="write the measurements here")
    parser.add_argument(
        "--fetch-only", action="store_true", help="run only the fetch workload (500 URLs)"
    )
    parser.add_argument(
        "--per-host", type=int, help="the fetch workload's --per-host (default: the tool's)"
    )
    parser.add_argument(
        "--own-pairs",
        type=int,
        metavar="N",
        help="run only 20 x own 30 of 750 against the peer, N times: each ratio and the median",
    )
    args = parser.parse_args()
    if not (args.shared / "bench" / "make_workload.py").is_file():
        sys.exit(f"no workload generator under {args.shared}/bench")
    compileall.compile_dir(REPO / "tenantdocs", quiet=1)
    with tempfile.TemporaryDirectory(prefix="tenantdocs-bench-") as folder:
        root = Path(folder)
        if args.own_pairs:
            paired = own_pairs(args.shared, args.jobs, root, args.own_pairs)
            write_json(args.json, paired)
            return 0
        fetched = fetch_workload(args.shared, args.jobs, root, args.per_host)
        print(f"# fetch: {FETCH_TENANTS} tenants x {FETCH_APPS} apps, one metadata URL each")
        report(fetched)
        if args.fetch_only:
            write_json(args.json, fetched)
            return 0
        results = compare(args.shared, args.tenants, args.pages, args.jobs, root)
        print(f"# {args.tenants} tenants x {args.pages} guides, {os.cpu_count()} cores")
        report(results)
        print_ratios(results)
        if args.large:
            big = large(args.shared, 500, 50, args.jobs, root)
            print("# 500 tenants x 50 guides")
            report(big)
            results += big
        results += fetched
        if args.realistic:
            results += realistic(args.shared, args.jobs, root, args.stream)
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
