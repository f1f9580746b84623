"""Where a channel lives: THE one classifier of location strings (folder, s3, http(s), upload server, channel name),
the channel condafarm reads and writes there (`s3://bucket/prefix`, `file://` URLs, paths), and S3 options."""

from __future__ import annotations

import enum
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from urllib.parse import unquote, urlparse

from ..errors import UsageError

#: Platform subdirs conda clients know; `index` only treats folders with these names as subdirs.
KNOWN_SUBDIRS = frozenset(
    {
        "noarch",
        "linux-32",
        "linux-64",
        "linux-aarch64",
        "linux-armv6l",
        "linux-armv7l",
        "linux-ppc64",
        "linux-ppc64le",
        "linux-riscv64",
        "linux-s390x",
        "osx-64",
        "osx-arm64",
        "win-32",
        "win-64",
        "win-arm64",
        "emscripten-wasm32",
        "wasi-wasm32",
        "zos-z",
    }
)

#: What a key may not hold on any store: `\` and `:` are a folder separator and a drive on Windows, NUL ends a path.
_NOT_IN_KEYS = ("\\", ":", "\0")

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
#: The path of a `file:///C:/...` URL (also the old `file:///C|/...` form): a drive letter after the slash.
_URL_DRIVE_RE = re.compile(r"^/([A-Za-z])[:|](?=/|$)")
#: A URL scheme as `urlparse` reads one; a single letter is a Windows drive (`C:\\x`), not a scheme.
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):")
#: Conda's test for a path rather than a channel name (`.`, `~`, `/`, `\\`, a drive letter and a separator).
_PATH_RE = re.compile(r"^(?:\.|~|/|\\|[A-Za-z]:[/\\])")
#: Channel servers that keep their own index, which condafarm uploads to (`channel/servers.py`): `KIND://...` or
#: `KIND+http(s)://HOST/...`.
SERVER_SCHEMES = ("prefix", "anaconda", "quetz", "artifactory")


def _env_flag(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class S3Options:
    """How to reach an S3 or S3-compatible endpoint, named as pixi and rattler name them.

    Unset fields fall back to the environment (`from_env`) and then to boto3's own defaults, so a worker host
    with only `AWS_PROFILE` set needs no flags at all.
    """

    endpoint_url: str | None = None
    region: str | None = None
    addressing_style: str | None = None  # "path" | "virtual" | None (boto3 decides)
    profile: str | None = None
    #: Only one writer ever writes the channel: allows stores that ignore conditional writes (see conditions.py).
    single_writer: bool = False

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> S3Options:
        """Read options from `S3_ENDPOINT_URL`, `S3_REGION`, `S3_FORCE_PATH_STYLE`, `S3_ADDRESSING_STYLE`
        (rattler-build's names) and the AWS ones `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, `AWS_REGION`,
        `AWS_DEFAULT_REGION`."""
        env = os.environ if environ is None else environ
        style = env.get("S3_ADDRESSING_STYLE") or None
        force = _env_flag(env.get("S3_FORCE_PATH_STYLE"))
        if force is not None and style is None:
            style = "path" if force else "virtual"
        return cls(
            endpoint_url=env.get("S3_ENDPOINT_URL")
            or env.get("AWS_ENDPOINT_URL_S3")
            or env.get("AWS_ENDPOINT_URL")
            or None,
            region=env.get("S3_REGION") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            addressing_style=style,
            profile=env.get("AWS_PROFILE") or None,
            single_writer=bool(_env_flag(env.get("CONDAFARM_SINGLE_WRITER"))),
        ).validated()

    def merged(self, override: S3Options) -> S3Options:
        """Fields set in `override` win over ours (flags over environment)."""
        return S3Options(
            endpoint_url=override.endpoint_url or self.endpoint_url,
            region=override.region or self.region,
            addressing_style=override.addressing_style or self.addressing_style,
            profile=override.profile or self.profile,
            single_writer=override.single_writer or self.single_writer,
        ).validated()

    def validated(self) -> S3Options:
        if self.addressing_style not in (None, "path", "virtual"):
            raise UsageError(f"addressing style must be 'path' or 'virtual', not {self.addressing_style!r}")
        if self.endpoint_url is not None:
            parsed = urlparse(self.endpoint_url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise UsageError(
                    f"endpoint URL {self.endpoint_url!r} is not an http(s) URL; "
                    "give it as http://HOST:PORT or https://HOST"
                )
        return self


@dataclass(frozen=True)
class Channel:
    """A conda channel root: either a folder (`path`) or an S3 bucket and key prefix.

    The prefix never has leading or trailing slashes; `key("noarch/repodata.json")` joins it.
    """

    url: str
    path: Path | None = None
    bucket: str | None = None
    prefix: str = ""
    s3: S3Options = field(default_factory=S3Options)

    @property
    def is_s3(self) -> bool:
        return self.bucket is not None

    def key(self, relative: str) -> str:
        """The storage key of `relative` (a `subdir/filename` path) inside this channel."""
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def url_of(self, relative: str) -> str:
        """A URL a person can read for `relative`, for messages."""
        return f"{self.url.rstrip('/')}/{relative}"


def check_key(key: str) -> str:
    """`key` if it names an object inside a channel (`linux-64/x.conda`), else `UsageError`.

    A key is relative and `/`-separated, with no empty, `.` or `..` part and none of `\\`, `:` or NUL, on every
    store alike: a folder would resolve such a key outside the channel and an S3-compatible server may normalise
    it there, so whatever a package name or side file says, nothing is read or written outside a channel.
    """
    if any(part in ("", ".", "..") for part in key.split("/")) or any(c in key for c in _NOT_IN_KEYS):
        raise UsageError(
            f"{key!r} is not a key inside the channel (keys are relative paths separated by '/', without empty, "
            "'.' or '..' parts, backslashes or colons); rename the package or object that gave this name"
        )
    return key


class Kind(enum.Enum):
    """What a location string names (`classify`)."""

    #: a folder: a POSIX, drive-letter or UNC path, or a `file://` URL
    FOLDER = "folder"
    #: `s3://BUCKET/PREFIX`, on AWS or an S3-compatible store
    S3 = "s3"
    #: an `http(s)://` channel, which condafarm reads and never writes
    HTTP = "http"
    #: an upload server that indexes packages itself: `prefix://`, `anaconda://`, `quetz+https://`, ...
    SERVER = "server"
    #: a URL of another scheme (`ftp://`, `oci://`): py-rattler's to read, never condafarm's to write
    URL = "url"
    #: a channel name (`conda-forge`, `deadline-cloud`, `conda-forge/label/dev`) that condarc files resolve
    NAME = "name"


@dataclass(frozen=True)
class Location:
    """A location string and what it names; `classify` makes one."""

    kind: Kind
    #: the string as given, without surrounding blanks
    text: str
    #: its URL scheme, lowercased; empty for paths and names
    scheme: str = ""

    @property
    def is_url(self) -> bool:
        return bool(self.scheme)

    def folder(self) -> Path:
        """The absolute local folder a path, `file://` URL or name (read as a relative path) stands for, by this
        host's rules (`local_path`), with `~` expanded."""
        return Path(local_path(self.text, windows=os.name == "nt")).expanduser().absolute()

    def channel(self, s3: S3Options | None = None) -> Channel:
        """The channel condafarm reads and writes here: S3 (options from `s3`, else the environment) or a folder;
        a name is the folder of that name in the working directory, as for every command that writes a channel.
        Empty text, http(s), upload servers and other schemes are refused (`UsageError`) saying what to give."""
        if not self.text:
            raise UsageError("channel location is empty; give s3://BUCKET/PREFIX or a folder path")
        if self.kind is Kind.S3:
            return self._s3_channel(s3)
        if self.kind is Kind.HTTP:
            raise UsageError(
                f"{self.text!r}: condafarm writes channels on S3 or a folder; for HTTP channels use their "
                "server's upload API (see `condafarm publish --help`)"
            )
        if self.kind in (Kind.SERVER, Kind.URL):
            raise UsageError(f"{self.text!r}: unsupported scheme {self.scheme!r}; use s3://, file:// or a folder path")
        path = self.folder()
        return Channel(url=path.as_uri(), path=path)

    def _s3_channel(self, s3: S3Options | None) -> Channel:
        parsed = urlparse(self.text)
        bucket = parsed.netloc
        if not _BUCKET_RE.match(bucket):
            raise UsageError(
                f"{self.text!r}: {bucket!r} is not a valid S3 bucket name "
                "(3-63 lowercase letters, digits, dots, hyphens); expected s3://BUCKET/PREFIX"
            )
        prefix = unquote(parsed.path).strip("/")
        if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
            raise UsageError(f"{self.text!r}: the key prefix must not contain empty, '.' or '..' parts")
        options = S3Options.from_env().merged(s3) if s3 is not None else S3Options.from_env()
        url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        return Channel(url=url, bucket=bucket, prefix=prefix, s3=options)


def classify(text: str, *, bare_folders: bool = False) -> Location:
    """What `text` names. The one rule for every location string condafarm is given (`--to`, `-c`, channels of
    an environment, condarc entries, protection sources, upstreams); it never fails, `Location.channel` checks.

    A URL is anything with a scheme of two or more letters or with `://`: `s3`, `http(s)`, the upload servers'
    `KIND[+http(s)]://`, `file:` (a folder), and any other scheme. Without one, conda's rule decides: `.`, `~`,
    `/`, `\\` or a drive letter and separator at the start, or a backslash anywhere, make a folder; `a/b` is a
    name with a label (`conda-forge/label/dev`) unless such a folder exists here; a bare word is a name, and with
    `bare_folders` (build's `-c` and submit's `--to`: an existing folder wins over a name) a folder when one of
    that name exists here. Without `bare_folders` a folder in the working directory never turns a channel name
    into something else, which is how conda reads names.
    """
    text = text.strip()
    match = _SCHEME_RE.match(text)
    if match or "://" in text:
        scheme = (match[1] if match else text.partition("://")[0]).lower()
        if scheme == "s3":
            return Location(Kind.S3, text, scheme)
        if scheme in ("http", "https"):
            return Location(Kind.HTTP, text, scheme)
        if scheme == "file":
            return Location(Kind.FOLDER, text, scheme)
        if scheme.partition("+")[0] in SERVER_SCHEMES and "://" in text:
            return Location(Kind.SERVER, text, scheme)
        return Location(Kind.URL, text, scheme)
    if _PATH_RE.match(text) or "\\" in text:
        return Location(Kind.FOLDER, text)
    if ("/" in text or bare_folders) and text and Path(text).is_dir():
        return Location(Kind.FOLDER, text)
    return Location(Kind.NAME, text)


def parse_channel(location: str, s3: S3Options | None = None) -> Channel:
    """The channel at a location given on the command line: `classify(location).channel(s3)`.

    Accepts `s3://bucket/prefix`, `file:///abs/path`, and plain relative or absolute paths; on Windows also
    drive-letter and UNC paths and their URLs (`local_path`). S3 options come from `s3`, else from the environment.
    """
    return classify(location).channel(s3)


def local_path(location: str, *, windows: bool) -> PurePath:
    """The folder a `file://` URL or a plain path names, read by Windows rules (`windows`: drive letters, `\\`,
    UNC shares `\\\\server\\share`, `file:///C:/...`, `file://server/share/...`) or POSIX rules, whatever the host
    is, so both are tested everywhere. Relative paths stay relative."""
    flavour: type[PurePath] = PureWindowsPath if windows else PurePosixPath
    parsed = urlparse(location)
    if parsed.scheme.lower() != "file":
        return flavour(location)
    text = unquote(parsed.path)
    remote = parsed.netloc not in ("", "localhost")
    if windows and remote:  # what `as_uri()` makes of a share: file://server/share/...
        return PureWindowsPath(f"//{parsed.netloc}{text}")
    if remote:
        raise UsageError(f"{location!r}: file URLs must be local (file:///path)")
    return PureWindowsPath(_URL_DRIVE_RE.sub(r"\1:", text)) if windows else PurePosixPath(text)
