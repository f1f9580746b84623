"""Benchmark: condafarm's indexer against py-rattler's (`rattler.index.index_fs` / `index_s3`).

usage:
  python bench/run.py                       # full run: 500, 2000, 5000 packages + 20 x 50 MB, folder and S3
  python bench/run.py --quick               # smoke run: 200 packages + 3 x 5 MB, one run each (~15 s)
  python bench/run.py --sizes 500,2000 --no-s3 --no-large
  python bench/run.py --help

Every measurement runs in a fresh child process (`python bench/run.py _child ...`) that times only the index
call, records its own peak RSS and bytes read, and leaves with `os._exit` (py-rattler 0.28 can crash at
interpreter exit after a successful call). S3 runs against moto's server started here on 127.0.0.1, behind a
small counting HTTP proxy (also here) so both indexers' requests and bytes are counted the same way.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SUBDIRS = ("noarch", "linux-64", "win-64")
PREFIX = "channel"  # key prefix of the channel inside each bucket
RESULT_TAG = "BENCH_RESULT "
CACHE_VERSION = "v1"

#: condafarm always writes CEP-16 shards next to repodata.json; the peer is asked to write them too, so both
#: produce the same files (`--peer-without-shards` lets the peer skip them).
PEER_SHARDS = os.environ.get("CONDAFARM_BENCH_PEER_SHARDS", "1") == "1"

#: Targets from the issue, printed next to the ratios (condafarm seconds / peer seconds).
TARGETS = {"cold": 1.0, "incremental": 0.25, "no-op": 0.25}

AWS_ENV = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
AWS_DROP = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "S3_ENDPOINT_URL")


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in AWS_DROP}
    env.update(AWS_ENV)
    env.setdefault("RUST_LOG", "error")
    return env


# ================================================================================================ child side
def _proc_io() -> dict[str, int]:
    """This process's /proc/self/io counters (all threads); empty where there is no procfs."""
    try:
        with open("/proc/self/io") as f:
            return {k: int(v) for k, v in (line.split(": ") for line in f.read().splitlines())}
    except OSError:
        return {}


def _peak_rss_mb() -> float:
    """Peak RSS of this process since its exec: VmHWM. (`ru_maxrss` is no good here: Linux carries the
    parent's peak over fork+exec into it, so every child would report at least the bench's own peak.)"""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def _child(argv: list[str]) -> int:
    """`_child TOOL KIND TARGET [ENDPOINT]`: run one index in this (fresh) process and print one JSON line."""
    tool, kind, target = argv[0], argv[1], argv[2]
    endpoint = argv[3] if len(argv) > 3 else None
    extra: dict[str, Any] = {}
    if tool == "condafarm":
        from condafarm import S3Options, index_channel, parse_channel

        if kind == "s3":
            import condafarm.storage.s3  # noqa: F401  (import boto3 before the clock starts, as rattler's is)

            channel = parse_channel(
                target, S3Options(endpoint_url=endpoint, region="us-east-1", addressing_style="path")
            )
        else:
            channel = parse_channel(target)
        io0, t0 = _proc_io(), time.perf_counter()
        report = index_channel(channel)
        seconds = time.perf_counter() - t0
        extra["requests"] = report.requests
        extra["summary"] = {k: report.total(k) for k in ("added", "updated", "removed", "skipped", "unchanged")}
    else:
        import asyncio

        from rattler.index import index_fs, index_s3

        if kind == "s3":
            assert endpoint is not None
            creds = peer_credentials(endpoint)
            io0, t0 = _proc_io(), time.perf_counter()
            asyncio.run(index_s3(target, credentials=creds, write_shards=PEER_SHARDS))
        else:
            io0, t0 = _proc_io(), time.perf_counter()
            asyncio.run(index_fs(Path(target), write_shards=PEER_SHARDS))
        seconds = time.perf_counter() - t0
    io1 = _proc_io()
    out = {
        "seconds": seconds,
        "maxrss_mb": _peak_rss_mb(),
        "rchar": io1.get("rchar", 0) - io0.get("rchar", 0) if io0 else None,
        "read_bytes": io1.get("read_bytes", 0) - io0.get("read_bytes", 0) if io0 else None,
        **extra,
    }
    print(RESULT_TAG + json.dumps(out))
    return 0


def peer_credentials(endpoint: str) -> Any:
    """py-rattler's S3 credentials for the local endpoint (path-style, the fake keys moto accepts)."""
    from rattler.index import S3Credentials

    return S3Credentials(
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
        addressing_style="path",
    )


def child_exit(func: Any, argv: list[str]) -> None:
    """Run a child measurement and leave with `os._exit`, reporting any failure on stderr."""
    try:
        code = func(argv)
    except BaseException as exc:  # report, then leave without interpreter teardown
        import traceback

        traceback.print_exc()
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# ============================================================================================ package cache
def _assemble(
    out_dir: Path, staging: Path, name: str, version: str, build_number: int, subdir: str, depends: list[str]
) -> Path:
    from rattler_build import ArchiveType, assemble_package

    target = out_dir / subdir
    target.mkdir(parents=True, exist_ok=True)
    output = assemble_package(
        name=name,
        version=version,
        target_platform=subdir,
        build_string=f"h0_{build_number}",
        output_dir=str(target),
        files_dir=str(staging),
        depends=depends,
        build_number=build_number,
        noarch="generic" if subdir == "noarch" else None,
        license="MIT",
        archive_type=ArchiveType.Conda,
        compression_level=1,
        detect_prefix=False,
    )
    return Path(output.path)


class Pool:
    """Packages generated once into the cache: `pool.paths[i]` is package number i (relative to `root`)."""

    def __init__(self, root: Path, kind: str, mb: int = 0) -> None:
        self.root, self.kind, self.mb = root, kind, mb
        self.manifest = root / "manifest.json"
        self.paths: list[Path] = []
        if self.manifest.exists():
            rel = json.loads(self.manifest.read_text())
            self.paths = [root / r for r in rel]
            if not all(p.exists() for p in self.paths):
                self.paths = []

    def ensure(self, count: int) -> list[Path]:
        if len(self.paths) >= count:
            return self.paths[:count]
        started = time.monotonic()
        missing = count - len(self.paths)
        print(f"  generating {missing} {self.kind} package(s) into {self.root} ...", flush=True)
        self.root.mkdir(parents=True, exist_ok=True)
        for i in range(len(self.paths), count):
            self.paths.append(self._make(i))
        shutil.rmtree(self.root / ".staging", ignore_errors=True)
        self.manifest.write_text(json.dumps([p.relative_to(self.root).as_posix() for p in self.paths]))
        print(f"  generated in {time.monotonic() - started:.1f}s", flush=True)
        return self.paths[:count]

    def _make(self, i: int) -> Path:
        subdir = SUBDIRS[i % len(SUBDIRS)]
        staging = self.root / ".staging" / str(i)
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "share").mkdir(parents=True)
        if self.kind == "small":
            # ~100 names with many versions each, a dependency on every 5th, content unique per package
            name = f"pkg{i % 97:02d}"
            (staging / "share" / f"{name}.txt").write_text(f"{name} {i} {secrets.token_hex(64)}\n" * 4)
            depends = [f"pkg{(i + 1) % 97:02d} >=1.0", "python >=3.10"] if i % 5 == 0 else []
            return _assemble(self.root, staging, name, f"1.{i}", i % 3, subdir, depends)
        # large: one incompressible file of `mb` MB
        with open(staging / "share" / "blob.bin", "wb") as f:
            for _ in range(self.mb):
                f.write(os.urandom(1024 * 1024))
        path = _assemble(self.root, staging, f"big{i:02d}", "1.0", 0, subdir, [])
        shutil.rmtree(staging)
        return path


def place(paths: list[Path], pool_root: Path, channel: Path) -> None:
    """Put package files into a channel folder (hard links: instant and no extra disk; copy if impossible)."""
    for src in paths:
        dst = channel / src.relative_to(pool_root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)


# ============================================================================ moto and the counting proxy
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Moto:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=child_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("moto server exited early (is moto[server] installed?)")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            time.sleep(0.05)
        else:
            raise RuntimeError("moto server did not start")
        self.client = self.make_client()

    def make_client(self) -> Any:
        import boto3
        import botocore.config

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=botocore.config.Config(s3={"addressing_style": "path"}, max_pool_connections=16),
        )

    def new_bucket(self, label: str) -> str:
        name = f"bench-{label}-{secrets.token_hex(4)}".lower()
        self.client.create_bucket(Bucket=name)
        return name

    def upload(self, bucket: str, paths: list[Path], pool_root: Path) -> None:
        """Upload as a plain uploader would: `upload_file`, no hash metadata."""

        def one(p: Path) -> None:
            self.client.upload_file(str(p), bucket, f"{PREFIX}/{p.relative_to(pool_root).as_posix()}")

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, paths))

    def drop_bucket(self, bucket: str) -> None:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", ())]
            if keys:
                self.client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        self.client.delete_bucket(Bucket=bucket)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "expect",
    "proxy-connection",
}


class Tally:
    """What went through the proxy since the last `reset()`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.ops: Counter[str] = Counter()
            self.pkg_bytes = 0
            self.other_bytes = 0
            self.pkg_keys: set[str] = set()

    def add(self, op: str, key: str, nbytes: int) -> None:
        with self.lock:
            self.ops[op] += 1
            if op.startswith("GetObject"):
                if key.endswith((".conda", ".tar.bz2")):
                    self.pkg_bytes += nbytes
                    self.pkg_keys.add(key)
                else:
                    self.other_bytes += nbytes

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "ops": dict(self.ops),
                "requests": sum(self.ops.values()),
                "pkg_bytes": self.pkg_bytes,
                "other_bytes": self.other_bytes,
                "bytes_read": self.pkg_bytes + self.other_bytes,
                "pkg_objects": len(self.pkg_keys),
            }


def classify(method: str, path: str, query: str, headers: Any) -> tuple[str, str]:
    """(S3 operation name, object key) of a path-style request."""
    parts = unquote(path).lstrip("/").split("/", 1)
    key = parts[1] if len(parts) > 1 else ""
    q = parse_qs(query, keep_blank_values=True)
    if method == "GET":
        if not key:
            return ("ListObjectsV2" if "list-type" in q else "ListObjects"), key
        return ("GetObject(range)" if headers.get("Range") else "GetObject"), key
    if method == "HEAD":
        return ("HeadObject" if key else "HeadBucket"), key
    if method == "PUT":
        if "partNumber" in q:
            return "UploadPart", key
        return ("CopyObject" if headers.get("x-amz-copy-source") else "PutObject"), key
    if method == "POST":
        if "uploads" in q:
            return "CreateMultipartUpload", key
        if "uploadId" in q:
            return "CompleteMultipartUpload", key
        return ("DeleteObjects" if "delete" in q else "POST"), key
    if method == "DELETE":
        return ("AbortMultipartUpload" if "uploadId" in q else "DeleteObject"), key
    return method, key


class CountingProxy:
    """A threaded HTTP/1.1 reverse proxy on 127.0.0.1 in front of moto that counts requests and bytes."""

    def __init__(self, upstream_port: int) -> None:
        self.tally = Tally()
        tally, port = self.tally, upstream_port

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else Nagle + delayed ACK add ~40 ms to every keep-alive request
            upstream: http.client.HTTPConnection | None = None

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _forward(self) -> None:
                body = self._body()
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                if body or self.command in ("PUT", "POST"):
                    headers["Content-Length"] = str(len(body))
                for attempt in range(2):
                    if self.upstream is None:
                        self.upstream = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
                        self.upstream.connect()
                        self.upstream.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    try:
                        self.upstream.request(self.command, self.path, body=body, headers=headers)
                        resp = self.upstream.getresponse()
                        data = resp.read()
                        break
                    except (http.client.HTTPException, OSError):
                        self.upstream.close()
                        self.upstream = None
                        if attempt:
                            raise
                split = urlsplit(self.path)
                op, key = classify(self.command, split.path, split.query, self.headers)
                tally.add(op, key, len(data))
                self.send_response_only(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() in HOP_BY_HOP or (k.lower() == "content-length" and self.command != "HEAD"):
                        continue
                    self.send_header(k, v)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                # headers and body in one write
                self._headers_buffer.append(b"\r\n")
                if self.command != "HEAD" and data:
                    self._headers_buffer.append(data)
                self.flush_headers()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ================================================================================================ measuring
@dataclass
class Run:
    seconds: float
    process_seconds: float
    maxrss_mb: float
    rchar: int | None
    requests: dict[str, int] | None = None  # condafarm's own IndexReport.requests
    summary: dict[str, int] | None = None
    proxy: dict[str, Any] | None = None


def measure(tool: str, kind: str, target: str, endpoint: str | None, proxy: CountingProxy | None) -> Run:
    cmd = [sys.executable, str(Path(__file__).resolve()), "_child", tool, kind, target]
    if endpoint:
        cmd.append(endpoint)
    if proxy is not None:
        proxy.tally.reset()
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), timeout=3600, check=False)
    elapsed = time.perf_counter() - started
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_TAG)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{tool} {kind} index of {target} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    raw = json.loads(lines[-1][len(RESULT_TAG) :])
    return Run(
        seconds=raw["seconds"],
        process_seconds=elapsed,
        maxrss_mb=raw["maxrss_mb"],
        rchar=raw.get("rchar"),
        requests=raw.get("requests"),
        summary=raw.get("summary"),
        proxy=proxy.tally.snapshot() if proxy is not None else None,
    )


STEPS = ("cold", "incremental", "no-op")


@dataclass
class Case:
    title: str
    kind: str  # "local" | "s3"
    count: int
    new_size: int  # bytes of the package added before the incremental run
    total_size: int
    runs: dict[str, dict[str, list[Run]]] = field(default_factory=dict)  # tool -> step -> runs
    check: list[str] = field(default_factory=list)

    def best(self, tool: str, step: str) -> Run:
        """The median run by index seconds (with --repeat > 1)."""
        runs = sorted(self.runs[tool][step], key=lambda r: r.seconds)
        return runs[(len(runs) - 1) // 2]

    def seconds(self, tool: str, step: str) -> float:
        return statistics.median(r.seconds for r in self.runs[tool][step])


def records_in(repodata: bytes) -> dict[str, str]:
    data = json.loads(repodata)
    out = {}
    for table in ("packages", "packages.conda"):
        for fn, rec in (data.get(table) or {}).items():
            out[fn] = rec.get("sha256")
    return out


def run_local_case(title: str, pool: Pool, count: int, work: Path, repeat: int) -> Case:
    paths = pool.ensure(count + 1)
    base, extra = paths[:count], paths[count]
    case = Case(title, "local", count, extra.stat().st_size, sum(p.stat().st_size for p in base))
    seen: dict[str, dict[str, str]] = {}
    for tool in ("condafarm", "rattler"):
        case.runs[tool] = {s: [] for s in STEPS}
        for rep in range(repeat):
            channel = work / f"local-{tool}-{count}-{rep}"
            shutil.rmtree(channel, ignore_errors=True)
            for s in SUBDIRS:
                (channel / s).mkdir(parents=True)
            place(base, pool.root, channel)
            case.runs[tool]["cold"].append(measure(tool, "local", str(channel), None, None))
            place([extra], pool.root, channel)
            case.runs[tool]["incremental"].append(measure(tool, "local", str(channel), None, None))
            case.runs[tool]["no-op"].append(measure(tool, "local", str(channel), None, None))
            recs: dict[str, str] = {}
            for s in SUBDIRS:
                recs.update(records_in((channel / s / "repodata.json").read_bytes()))
            seen[tool] = recs
            shutil.rmtree(channel)
        print(f"    {tool}: done", flush=True)
    verify(case, seen, count + 1)
    return case


def run_s3_case(title: str, pool: Pool, count: int, moto: Moto, proxy: CountingProxy | None, repeat: int) -> Case:
    paths = pool.ensure(count + 1)
    base, extra = paths[:count], paths[count]
    case = Case(title, "s3", count, extra.stat().st_size, sum(p.stat().st_size for p in base))
    endpoint = proxy.url if proxy is not None else moto.url
    seen: dict[str, dict[str, str]] = {}
    for tool in ("condafarm", "rattler"):
        case.runs[tool] = {s: [] for s in STEPS}
        for _ in range(repeat):
            bucket = moto.new_bucket(f"{tool[:2]}{count}")
            t0 = time.monotonic()
            moto.upload(bucket, base, pool.root)
            upload_s = time.monotonic() - t0
            url = f"s3://{bucket}/{PREFIX}"
            case.runs[tool]["cold"].append(measure(tool, "s3", url, endpoint, proxy))
            moto.upload(bucket, [extra], pool.root)
            case.runs[tool]["incremental"].append(measure(tool, "s3", url, endpoint, proxy))
            case.runs[tool]["no-op"].append(measure(tool, "s3", url, endpoint, proxy))
            recs: dict[str, str] = {}
            for s in SUBDIRS:
                body = moto.client.get_object(Bucket=bucket, Key=f"{PREFIX}/{s}/repodata.json")["Body"].read()
                recs.update(records_in(body))
            seen[tool] = recs
            moto.drop_bucket(bucket)
        print(f"    {tool}: done (upload of {count} packages took {upload_s:.1f}s, not timed)", flush=True)
    verify(case, seen, count + 1)
    return case


def verify(case: Case, seen: dict[str, dict[str, str]], expected: int) -> None:
    for tool, recs in seen.items():
        if len(recs) != expected:
            case.check.append(f"{tool}: {len(recs)} records in repodata.json, expected {expected}")
    a, b = seen.get("condafarm", {}), seen.get("rattler", {})
    if a and b and a != b:
        diff = sorted(set(a.items()) ^ set(b.items()))[:3]
        case.check.append(f"condafarm and rattler disagree on {len(set(a.items()) ^ set(b.items()))} records: {diff}")


# ================================================================================================ reporting
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


def case_target(case: Case, step: str) -> float | None:
    return TARGETS[step]


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
            verdict(ratio, case_target(case, step)),
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
            rows.append(
                [case.title, step, f"{cs:.3f}", f"{rs:.3f}", f"{ratio:.2f}", verdict(ratio, case_target(case, step))]
            )
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


# ===================================================================================================== main
def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="condafarm vs py-rattler indexing benchmark")
    parser.add_argument("--sizes", default="500,2000,5000", help="channel sizes in packages (default 500,2000,5000)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 200 packages, 3 x 5 MB large packages")
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 (moto) cases")
    parser.add_argument("--no-local", action="store_true", help="skip the local folder cases")
    parser.add_argument("--no-large", action="store_true", help="skip the large-package cases")
    parser.add_argument("--large-count", type=int, default=20, help="large packages (default 20)")
    parser.add_argument("--large-mb", type=int, default=50, help="size of each large package in MB (default 50)")
    parser.add_argument("--s3-sizes", default=None, help="sizes for S3 if different from --sizes")
    parser.add_argument(
        "--repeat", type=int, default=None, help="runs per case; seconds are the median (default 3; 1 with --quick)"
    )
    parser.add_argument("--no-proxy", action="store_true", help="talk to moto directly (peer S3 counts: n/a)")
    parser.add_argument("--no-publish", action="store_true", help="skip the publish case")
    parser.add_argument(
        "--peer-without-shards", action="store_true", help="let py-rattler skip the CEP-16 shards condafarm writes"
    )
    parser.add_argument("--publish-only", action="store_true", help="run only the publish case")
    parser.add_argument("--publish-sizes", default="50,500,5000", help="channel sizes to publish into")
    parser.add_argument("--cache-dir", default=str(BENCH / ".cache"), help="generated packages (default bench/.cache)")
    parser.add_argument("--json", default=None, help="also write all measurements to this JSON file")
    parser.add_argument("--output", default=None, help="also write the printed report to this text file")
    args = parser.parse_args(argv)
    if args.peer_without_shards:
        os.environ["CONDAFARM_BENCH_PEER_SHARDS"] = "0"  # read by the child processes

    if args.quick:
        sizes = [200]
        large_count, large_mb = 3, 5
    else:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        large_count, large_mb = args.large_count, args.large_mb
    s3_sizes = [int(s) for s in args.s3_sizes.split(",")] if args.s3_sizes else sizes
    args.repeat = args.repeat or (1 if args.quick else 3)
    publish_sizes = [50, 200] if args.quick else [int(s) for s in args.publish_sizes.split(",") if s.strip()]
    if args.publish_only:
        args.no_local = args.no_large = True
        s3_sizes = []

    import platform

    import rattler  # noqa: F401

    try:
        from importlib.metadata import version

        versions = f"condafarm {version('condafarm')}, py-rattler {version('py-rattler')}, moto {version('moto')}"
    except Exception:
        versions = ""
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "log", "-1", "--format=%h"], capture_output=True, text=True, check=False
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"], capture_output=True, text=True, check=False
        ).stdout.strip()
        commit = f"commit {commit}{' + uncommitted src changes' if dirty else ''}, " if commit else ""
    except OSError:
        commit = ""
    header = (
        f"condafarm indexing benchmark - {time.strftime('%Y-%m-%d %H:%M')} - {commit}"
        f"python {platform.python_version()}, "
        f"{os.cpu_count()} cpus, {versions}\n"
        f"sizes {sizes} (S3 {s3_sizes if not args.no_s3 else 'skipped'}), "
        f"large {large_count} x {large_mb} MB{' (skipped)' if args.no_large else ''}, repeat {args.repeat}\n"
        "seconds = the index call alone, in a fresh process; 'proc s' = whole child process incl. startup;\n"
        "RSS = peak RSS of that process (VmHWM); local 'read' = bytes read by read() syscalls (/proc/self/io rchar);\n"
        "S3 'read' = object bytes downloaded (condafarm: IndexReport.requests['bytes_read']; rattler: proxy)"
    )
    print(header, flush=True)
    report = [header]

    cache = Path(args.cache_dir).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    small = Pool(cache / f"small-{CACHE_VERSION}", "small")
    large = Pool(cache / f"large-{CACHE_VERSION}-{large_mb}mb", "large", large_mb)
    # the work folder sits next to the cache so channels can be hard links into it
    work = Path(tempfile.mkdtemp(prefix="work-", dir=cache))
    cases: list[Case] = []
    moto = proxy = None
    started = time.monotonic()
    try:
        print(f"\npreparing packages (cache: {cache})", flush=True)
        small.ensure(max(sizes + (s3_sizes if not args.no_s3 else []) + publish_sizes) + args.repeat)
        if not args.no_large:
            large.ensure(large_count + 1)
        if not args.no_local:
            for n in sizes:
                print(f"\nlocal folder, {n} packages ...", flush=True)
                cases.append(run_local_case(f"local {n}", small, n, work, args.repeat))
                report.append(print_case(cases[-1]))
            if not args.no_large:
                print(f"\nlocal folder, {large_count} x {large_mb} MB ...", flush=True)
                cases.append(run_local_case(f"local {large_count}x{large_mb}MB", large, large_count, work, args.repeat))
                report.append(print_case(cases[-1]))
        if not args.no_s3:
            moto = Moto()
            proxy = None if args.no_proxy else CountingProxy(moto.port)
            print(f"\nmoto on {moto.url}" + (f", counting proxy on {proxy.url}" if proxy else ""), flush=True)
            for n in s3_sizes:
                print(f"\nS3, {n} packages ...", flush=True)
                cases.append(run_s3_case(f"s3 {n}", small, n, moto, proxy, args.repeat))
                report.append(print_case(cases[-1]))
            if not args.no_large:
                print(f"\nS3, {large_count} x {large_mb} MB ...", flush=True)
                cases.append(
                    run_s3_case(f"s3 {large_count}x{large_mb}MB", large, large_count, moto, proxy, args.repeat)
                )
                report.append(print_case(cases[-1]))
            if not args.no_publish and proxy is not None:
                from publish_bench import run_publish

                print(f"\npublish into S3 channels of {publish_sizes} packages ...", flush=True)
                report.append(run_publish(small, publish_sizes, moto, proxy, args.repeat)[0])
    finally:
        if proxy is not None:
            proxy.stop()
        if moto is not None:
            moto.stop()
        shutil.rmtree(work, ignore_errors=True)
    if cases:
        report.append(summary(cases))
    tail = f"\ntotal benchmark time {time.monotonic() - started:.0f}s"
    print(tail)
    report.append(tail)
    if args.output:
        Path(args.output).write_text("\n".join(report) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps({"header": header, "cases": [case_json(c) for c in cases]}, indent=1))
    return 1 if any(c.check for c in cases) else 0  # targets are reported, not enforced


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        child_exit(_child, sys.argv[2:])
    sys.exit(main(sys.argv[1:]))
