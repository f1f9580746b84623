"""Environment artifacts (issue 25): what `env export`, `env pack --installer` and `env image` cost for a synthetic
environment of many packages, through the CLI as a user runs it.

    python bench/artifacts_bench.py [--packages 40] [--files 100] [--registry]

Seconds are wall time of one run each (2 shared cores: expect noise); sizes in MB. With --registry (Debian's
docker-registry on PATH), it also pushes the image twice: a second image of the same packages from another
prefix, to show that shared packages cost one HEAD each.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (puts tests/ on sys.path)
from support.cli import run_cli
from support.packages import make_package


def _timed(*args: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = run_cli(*args, timeout=1800)
    if result.returncode != 0:
        sys.exit(f"{' '.join(args[:2])} failed: {result.stderr}")
    return time.perf_counter() - started, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=40)
    parser.add_argument("--files", type=int, default=100, help="files per package (one of them embeds the prefix)")
    parser.add_argument("--registry", action="store_true")
    args = parser.parse_args()
    from condafarm import index_channel, parse_channel

    with tempfile.TemporaryDirectory(prefix="condafarm-artifacts-bench-") as tmp:
        work = Path(tmp)
        channel = work / "channel"
        names = [f"pkg{i:03d}" for i in range(args.packages)]
        for name in names:
            files = {f"share/{name}/f{j}.txt": f"{name} {j} " * 200 for j in range(args.files - 1)}
            files[f"etc/{name}.cfg"] = "home={prefix}\n"
            make_package(channel, name, "1.0", files=files)
        shutil.rmtree(channel / ".staging")
        index_channel(parse_channel(str(channel)))
        cache = str(work / "cache")
        rows = []
        request = ["--packages", " ".join(names), "--channels", str(channel), "--cache-dir", cache]
        seconds, _ = _timed("env", "create", str(work / "env"), *request)
        rows.append(("env create (solve + install)", seconds, ""))
        out = {n: work / n for n in ("env.lock.txt", "conda-lock.yml", "pixi.lock")}
        seconds, _ = _timed(
            "env",
            "export",
            str(work / "env"),
            "--lockfile",
            str(out["env.lock.txt"]),
            "--conda-lock",
            str(out["conda-lock.yml"]),
            "--pixi-lock",
            str(out["pixi.lock"]),
        )
        sizes = ", ".join(f"{name} {path.stat().st_size / 1e3:.0f} kB" for name, path in out.items())
        rows.append(("env export (3 lockfiles + YAML)", seconds, sizes))
        for name, path in out.items():
            seconds, _ = _timed(
                "env", "create", str(work / f"from-{name}"), "--lockfile", str(path), "--cache-dir", cache
            )
            rows.append((f"env create --lockfile {name}", seconds, ""))
        seconds, _ = _timed("env", "pack", str(work / "env"), str(work / "env.sh"), "--installer")
        rows.append(("env pack --installer", seconds, f"{(work / 'env.sh').stat().st_size / 1e6:.1f} MB"))
        started = time.perf_counter()
        subprocess.run(["/bin/sh", str(work / "env.sh"), str(work / "installed here")], check=True, capture_output=True)
        rows.append((f"sh env.sh PREFIX ({args.packages} files relocated)", time.perf_counter() - started, ""))
        seconds, stdout = _timed("env", "image", str(work / "env"), str(work / "image"))
        rows.append(("env image (layout)", seconds, stdout.split("(", 1)[1].split(",")[0]))
        if args.registry:
            from support.registry import local_registry

            _timed("env", "create", str(work / "elsewhere" / "env"), *request)
            with local_registry(work / "registry") as registry:
                for number, prefix in enumerate((work / "env", work / "elsewhere" / "env"), 1):
                    target = f"{registry}/bench/env:{number}"
                    seconds, stdout = _timed(
                        "env", "image", str(prefix), str(work / f"push-{number}"), "--push", target
                    )
                    rows.append(
                        (
                            f"env image --push, image {number}",
                            seconds,
                            stdout.strip().splitlines()[-1].split(": ", 1)[1],
                        )
                    )
        print(f"{args.packages} packages x {args.files} files")
        for what, seconds, note in rows:
            print(f"  {what:<44} {seconds:7.2f} s  {note}")


if __name__ == "__main__":
    main()
