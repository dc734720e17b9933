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
                                                  #   20 x 30-of-750 vs peer, 500 x 30-of-750
                                                  #   full / no-op / peak memory, 750-guide
                                                  #   tenant vs peer
    python benchmarks/run.py --realistic --stream # also 2,000 x 30-of-750 peak memory
    python benchmarks/run.py --tenants 50 --pages 10 --jobs 2 --json results.json

Times are wall clock on this machine; peak memory is the largest resident set of any
process of the run (os.wait4). Each command runs in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
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


def run(name: str, command: list[str], cwd: Path, pages: int) -> Measurement:
    """Run ``command`` to completion; fail loudly if it fails.

    The child's stderr goes to a file, not a pipe: a pipe read only after the child ends
    would fill up and hang both.
    """
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
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
        ["bash", str(shared / "bench" / "peer_macros.sh"), str(work), str(root / "peer-out")],
        root,
        total,
    )
    ours = run(
        f"tenantdocs build --jobs {jobs}",
        tenantdocs("build", "--jobs", str(jobs), "--force"),
        work,
        total,
    )
    shutil.rmtree(root / "peer-out", ignore_errors=True)
    return [peer, ours]


def realistic(shared: Path, jobs: int, root: Path, stream: bool) -> list[Measurement]:
    """Tenants with their own app sets, as real customers have, and one 750-guide tenant."""
    small = compare(shared, 20, 750, jobs, root, 30)
    print("# 20 tenants x their own 30 of 750 apps")
    report(small)
    print(f"ratio: tenantdocs is {small[0].seconds / small[1].seconds:.1f}x faster than the peer")
    work = workload(shared, 500, 750, root, 30)
    big = [
        run("full build 500 x 30-of-750", tenantdocs("build", "--jobs", str(jobs)), work, 15000),
        run("no-op rebuild", tenantdocs("build", "--jobs", str(jobs)), work, 0),
    ]
    print("# 500 tenants x their own 30 of 750 apps")
    report(big)
    shutil.rmtree(work)
    if stream:
        work = workload(shared, 2000, 750, root, 30)
        huge = [
            run(
                "full build 2000 x 30-of-750", tenantdocs("build", "--jobs", str(jobs)), work, 60000
            )
        ]
        print("# 2,000 tenants x their own 30 of 750 apps (peak memory must stay flat)")
        report(huge)
        shutil.rmtree(work)
    catalogue = compare(shared, 1, 750, jobs, root)
    print("# one tenant using all 750 guides")
    report(catalogue)
    ratio = catalogue[0].seconds / catalogue[1].seconds
    print(f"ratio: tenantdocs is {ratio:.1f}x faster than the peer")
    return [*small, *big, *(huge if stream else []), *catalogue]


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


def report(results: list[Measurement]) -> None:
    width = max(len(m.name) for m in results)
    for m in results:
        per_page = f"{1000 * m.seconds / m.pages:7.2f} ms/page" if m.pages else " " * 15
        print(f"{m.name.ljust(width)}  {m.seconds:8.2f} s  {per_page}  peak {m.peak_mib:7.1f} MiB")


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
    args = parser.parse_args()
    if not (args.shared / "bench" / "make_workload.py").is_file():
        sys.exit(f"no workload generator under {args.shared}/bench")
    with tempfile.TemporaryDirectory(prefix="tenantdocs-bench-") as folder:
        root = Path(folder)
        results = compare(args.shared, args.tenants, args.pages, args.jobs, root)
        print(f"# {args.tenants} tenants x {args.pages} guides, {os.cpu_count()} cores")
        report(results)
        ratio = results[0].seconds / results[1].seconds
        print(f"ratio: tenantdocs is {ratio:.1f}x faster than the peer")
        if args.large:
            big = large(args.shared, 500, 50, args.jobs, root)
            print("# 500 tenants x 50 guides")
            report(big)
            results += big
        if args.realistic:
            results += realistic(args.shared, args.jobs, root, args.stream)
    if args.json:
        args.json.write_text(json.dumps([asdict(m) for m in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
