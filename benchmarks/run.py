#!/usr/bin/env python3
"""Benchmark tenantdocs against the peer baseline, side by side in one run.

The peer is what a user would do without tenantdocs: one ``mkdocs build`` per tenant with
mkdocs-macros-plugin (``../shared/bench/peer_macros.sh``). Both build the same generated
workload (``../shared/bench/make_workload.py``): N tenants sharing M guides that differ
only in values.

    pip install -e '.[bench]'
    python benchmarks/run.py                      # 20 x 30: peer vs tenantdocs, ratio
    python benchmarks/run.py --large              # also 500 x 50: full, no-op, one changed
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
    """Run ``command`` to completion; fail loudly if it fails."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert process.stderr is not None
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    errors = process.stderr.read().decode(errors="replace")
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"{name} failed ({process.returncode}):\n{errors[-2000:]}")
    return Measurement(name, seconds, usage.ru_maxrss / 1024, pages)


def workload(shared: Path, tenants: int, pages: int, root: Path) -> Path:
    """Generate a workload folder with templates/ and tenants/."""
    target = root / f"w{tenants}x{pages}"
    subprocess.run(
        [
            sys.executable,
            str(shared / "bench" / "make_workload.py"),
            str(tenants),
            str(pages),
            str(target),
        ],
        check=True,
    )
    return target


def tenantdocs(*args: str) -> list[str]:
    return [sys.executable, str(REPO / "build.py"), *args]


def compare(shared: Path, tenants: int, pages: int, jobs: int, root: Path) -> list[Measurement]:
    """The peer and tenantdocs on the same workload, full builds, one after the other."""
    work = workload(shared, tenants, pages, root)
    total = tenants * pages
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
    return [peer, ours]


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
    if args.json:
        args.json.write_text(json.dumps([asdict(m) for m in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
