"""The benchmark's printed report: a table per index case, the summary of ratios and the JSON of every run."""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from index_bench import STEPS, Case
from measure import Run

#: Targets from the issue, printed next to the ratios (condafarm seconds / peer seconds).
TARGETS = {"cold": 1.0, "incremental": 0.25, "no-op": 0.25}


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "n/a"
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.1f} {unit}" if n / div < 100 else f"{n / div:.0f} {unit}"
    return f"{int(n)} B"


def cf_requests(run: Run) -> int | None:
    if run.requests is None:
        return None
    return sum(v for k, v in run.requests.items() if k != "bytes_read")


def verdict(ratio: float, target: float | None) -> str:
    if target is None:
        return ""
    return f"<= {target:.2f} {'ok' if ratio <= target else 'MISSED'}"


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        cells = zip(r, widths, strict=True)
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(cells))

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *[line(r) for r in rows]])


def print_case(case: Case) -> str:
    out = [
        f"\n== {case.title}: {case.count} packages, {fmt_bytes(case.total_size)}; "
        f"incremental adds 1 package of {fmt_bytes(case.new_size)}"
    ]
    header = ["step", "condafarm s", "rattler s", "ratio", "target", "RSS cf MB", "RSS rt MB", "proc s cf/rt"]
    if case.kind == "s3":
        header += ["req cf", "req rt", "read cf", "read rt", "pkg objs read cf/rt"]
    else:
        header += ["read cf", "read rt"]
    rows = []
    for step in STEPS:
        cf, rt = case.best("condafarm", step), case.best("rattler", step)
        cs, rs = case.seconds("condafarm", step), case.seconds("rattler", step)
        ratio = cs / rs if rs else float("inf")
        row = [
            step,
            f"{cs:.3f}",
            f"{rs:.3f}",
            f"{ratio:.2f}",
            verdict(ratio, TARGETS[step]),
            f"{cf.maxrss_mb:.0f}",
            f"{rt.maxrss_mb:.0f}",
            f"{cf.process_seconds:.2f}/{rt.process_seconds:.2f}",
        ]
        if case.kind == "s3":
            rt_req = rt.proxy["requests"] if rt.proxy else None
            rt_read = rt.proxy["bytes_read"] if rt.proxy else None
            objs = f"{cf.proxy['pkg_objects']}/{rt.proxy['pkg_objects']}" if cf.proxy and rt.proxy else "n/a"
            row += [
                str(cf_requests(cf)),
                "n/a" if rt_req is None else str(rt_req),
                fmt_bytes(cf.requests.get("bytes_read") if cf.requests else None),
                fmt_bytes(rt_read),
                objs,
            ]
        else:
            row += [fmt_bytes(cf.rchar), fmt_bytes(rt.rchar)]
        rows.append(row)
    out.append(table(rows, header))
    if case.kind == "s3":
        for step in STEPS:
            cf, rt = case.best("condafarm", step), case.best("rattler", step)
            ops = ", ".join(f"{k}={v}" for k, v in sorted((cf.requests or {}).items()) if k != "bytes_read")
            line = f"  {step:<11} condafarm IndexReport: {ops}"
            if cf.proxy and rt.proxy:
                line += (
                    f"\n  {'':<11} proxy saw condafarm: {cf.proxy['requests']} req, package bytes "
                    f"{fmt_bytes(cf.proxy['pkg_bytes'])}, index/state bytes {fmt_bytes(cf.proxy['other_bytes'])}; "
                    f"rattler: {_ops(rt.proxy['ops'])}, package bytes {fmt_bytes(rt.proxy['pkg_bytes'])}, "
                    f"index bytes {fmt_bytes(rt.proxy['other_bytes'])}"
                )
            out.append(line)
        inc = case.best("condafarm", "incremental")
        if inc.proxy:
            objs, pkg = inc.proxy["pkg_objects"], inc.proxy["pkg_bytes"]
            out.append(
                f"  target: S3 incremental reads only the new package -> condafarm read {objs} package object(s), "
                f"{fmt_bytes(pkg)} of package data = {pkg / case.new_size:.2f} x the new file "
                f"({fmt_bytes(case.new_size)}), + {fmt_bytes(inc.proxy['other_bytes'])} of repodata/state: "
                f"{'ok' if objs == 1 else 'MISSED'}"
                + ("" if pkg <= case.new_size else " (some of the new file read twice)")
            )
        else:
            out.append(
                f"  target: S3 incremental reads only the new package -> condafarm read "
                f"{fmt_bytes((inc.requests or {}).get('bytes_read'))} in total (new file is "
                f"{fmt_bytes(case.new_size)}; run without --no-proxy to split package vs repodata bytes)"
            )
    summ = case.best("condafarm", "incremental").summary
    if summ and (summ.get("added") != 1 or summ.get("skipped")):
        case.check.append(f"condafarm incremental summary unexpected: {summ}")
    for msg in case.check:
        out.append(f"  CHECK FAILED: {msg}")
    text = "\n".join(out)
    print(text, flush=True)
    return text


def _ops(ops: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(ops.items()))


def summary(cases: list[Case]) -> str:
    rows = []
    for case in cases:
        for step in STEPS:
            cs, rs = case.seconds("condafarm", step), case.seconds("rattler", step)
            ratio = cs / rs if rs else float("inf")
            rows.append([case.title, step, f"{cs:.3f}", f"{rs:.3f}", f"{ratio:.2f}", verdict(ratio, TARGETS[step])])
    text = "\n== Summary (condafarm / rattler index seconds)\n" + table(
        rows, ["case", "step", "condafarm s", "rattler s", "ratio", "target"]
    )
    print(text, flush=True)
    return text


def case_json(case: Case) -> dict[str, Any]:
    return {
        "title": case.title,
        "kind": case.kind,
        "count": case.count,
        "new_size": case.new_size,
        "total_size": case.total_size,
        "check": case.check,
        "runs": {t: {s: [r.__dict__ for r in rs] for s, rs in steps.items()} for t, steps in case.runs.items()},
    }


def run_header() -> str:
    """What was measured, on what: date, the condafarm source and the last commit that changed it, versions, CPUs."""
    import condafarm

    source = Path(condafarm.__file__).resolve().parent
    try:
        from importlib.metadata import version

        versions = f"py-rattler {version('py-rattler')}, moto {version('moto')}"
    except Exception:
        versions = ""
    try:
        commit = subprocess.run(
            ["git", "-C", str(source), "log", "-1", "--format=%h", "--", "."],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain", "--", "."], capture_output=True, text=True, check=False
        ).stdout.strip()
        commit = f" (commit {commit}{' + uncommitted changes' if dirty else ''})" if commit else ""
    except OSError:
        commit = ""
    return (
        f"condafarm benchmark - {time.strftime('%Y-%m-%d %H:%M')} - condafarm from {source}{commit}, "
        f"python {platform.python_version()}, {os.cpu_count()} cpus, {versions}"
    )


def report_header(args: argparse.Namespace) -> str:
    """`run_header`, the sizes of an index run and what its columns mean."""
    return (
        f"{run_header()}\n"
        f"sizes {args.sizes} (S3 {args.s3_sizes if not args.no_s3 else 'skipped'}), "
        f"large {args.large_count} x {args.large_mb} MB{' (skipped)' if args.no_large else ''}, repeat {args.repeat}\n"
        "seconds = the index call alone, in a fresh process; 'proc s' = whole child process incl. startup;\n"
        "RSS = peak RSS of that process (VmHWM); local 'read' = bytes read by read() syscalls (/proc/self/io rchar);\n"
        "S3 'read' = object bytes downloaded (condafarm: IndexReport.requests['bytes_read']; rattler: proxy)"
    )
