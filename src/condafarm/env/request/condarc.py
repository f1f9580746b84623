"""Channel names resolved as conda resolves them on this host: condarc files merged in conda's search order.

A job names channels the way it would for `conda create -c NAME`: `deadline-cloud` (what Deadline Cloud
service-managed fleets map with `custom_channels` in `/etc/conda/condarc`), `conda-forge`, `defaults`, a
studio alias. These read `channel_alias`, `custom_channels`, `custom_multichannels`, `default_channels` and
`channels` from every condarc conda would read, later files overriding earlier ones as conda merges them:
scalars replaced, maps merged key by key, lists concatenated with the later file's entries first. Conda's
`#!final`/`#!top` line markers are not read (pyyaml drops comments). `CONDA_RESTRICT_RC_SEARCH_PATH` limits
the search to `$CONDARC`, as it does for conda. URLs and folders are never renamed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import UsageError
from ...storage.location import Kind, classify

DEFAULT_CHANNEL_ALIAS = "https://conda.anaconda.org"
#: What `defaults` means when no condarc sets `default_channels` (conda's built-in list; msys2 on Windows only).
BUILTIN_DEFAULTS = ("https://repo.anaconda.com/pkgs/main", "https://repo.anaconda.com/pkgs/r")
BUILTIN_DEFAULTS_WINDOWS = (*BUILTIN_DEFAULTS, "https://repo.anaconda.com/pkgs/msys2")

_SYSTEM = tuple(
    f"{folder}/{name}" for folder in ("/etc/conda", "/var/lib/conda") for name in (".condarc", "condarc", "condarc.d")
)
_SYSTEM_WINDOWS = ("C:/ProgramData/conda/.condarc", "C:/ProgramData/conda/condarc", "C:/ProgramData/conda/condarc.d")
_USER = tuple(
    f"{folder}/{name}"
    for folder in ("$CONDA_ROOT", "$XDG_CONFIG_HOME/conda", "~/.config/conda", "~/.conda")
    for name in (".condarc", "condarc", "condarc.d")
)
_LATE = ("~/.condarc", "$CONDA_PREFIX/.condarc", "$CONDA_PREFIX/condarc", "$CONDA_PREFIX/condarc.d", "$CONDARC")


def is_name(channel: str) -> bool:
    """A channel name, which condarc files resolve, rather than a URL or folder (`storage.location.classify`:
    `a/b` is a name with a label to conda, `conda-forge/label/dev`, unless such a folder exists here)."""
    return classify(channel).kind is Kind.NAME


def needs_condarc(names: Sequence[str]) -> bool:
    """Whether resolving `names` reads condarc files: a name among them, or no channels at all (defaults)."""
    return not names or any(is_name(name) for name in names)


def explain_channels(names: Sequence[str], condarc: CondaConfig | None = None) -> list[str]:
    """What each channel name in `names` stands for on this host and why, one line each (none for URLs and
    folders); `condarc` defaults to the host's files."""
    return (condarc or load_condarc()).explain(names) if needs_condarc(names) else []


def _conda_root(environ: Mapping[str, str]) -> str | None:
    """`$CONDA_ROOT` as conda expands it: the base install, which conda's shell hooks reveal through
    `CONDA_EXE` (ROOT/bin/conda, ROOT\\Scripts\\conda.exe)."""
    if environ.get("CONDA_ROOT"):
        return environ["CONDA_ROOT"]
    exe = environ.get("CONDA_EXE")
    return str(Path(exe).parent.parent) if exe else None


def search_path(
    environ: Mapping[str, str] | None = None, *, home: Path | None = None, windows: bool | None = None
) -> list[Path]:
    """Every place conda looks for a condarc, in the order it reads them (later ones override earlier ones);
    entries whose variable is unset are left out."""
    env = os.environ if environ is None else environ
    windows = sys.platform == "win32" if windows is None else windows
    if "CONDA_RESTRICT_RC_SEARCH_PATH" in env:
        entries: tuple[str, ...] = ("$CONDARC",)
    else:
        entries = (*(_SYSTEM_WINDOWS if windows else _SYSTEM), *_USER, *_LATE)
    values = {"CONDA_ROOT": _conda_root(env)}
    for name in ("XDG_CONFIG_HOME", "CONDA_PREFIX", "CONDARC"):
        values[name] = env.get(name) or None
    user_home = str(home or Path.home())
    found = []
    for entry in entries:
        head, _, rest = entry.partition("/")
        if head.startswith("$"):
            value = values[head[1:]]
            if value is None:
                continue
            entry = value + ("/" + rest if rest else "")
        elif head == "~":
            entry = user_home + "/" + rest
        found.append(Path(entry))
    return found


def _files(location: Path) -> list[Path]:
    """A condarc, or the `.yml`/`.yaml` files of a `condarc.d` folder in name order."""
    if location.is_dir():
        return sorted(p for p in location.iterdir() if p.is_file() and p.suffix in (".yml", ".yaml"))
    return [location] if location.is_file() else []


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UsageError(f"{where} must be a list of channel names or URLs")
    return tuple(value)


def _mapping(data: dict[Any, Any], key: str, path: Path) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise UsageError(f"{key} in {path} must map channel names to URLs")
    return {str(name): item for name, item in value.items()}


@dataclass(frozen=True)
class CondaConfig:
    """The channel settings of the condarc files read, merged; `origin` says which file set each one."""

    channel_alias: str = DEFAULT_CHANNEL_ALIAS
    custom_channels: Mapping[str, str] = field(default_factory=dict)
    custom_multichannels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    default_channels: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    windows: bool = sys.platform == "win32"
    origin: Mapping[str, str] = field(default_factory=dict)

    @property
    def defaults(self) -> tuple[str, ...]:
        """What `defaults` means here: `default_channels`, else conda's built-in list."""
        if self.default_channels:
            return self.default_channels
        return BUILTIN_DEFAULTS_WINDOWS if self.windows else BUILTIN_DEFAULTS

    def _simple(self, name: str) -> str:
        """A `default_channels` or multichannel entry: URLs and folders as they are, names under the alias
        (conda's `make_simple_channel`)."""
        return _join(self.channel_alias, name) if is_name(name) else name

    def _lookup(self, name: str) -> tuple[tuple[str, ...], str]:
        """The channels a name stands for, and the setting that decided it."""
        if not is_name(name):
            return (name,), ""
        bare = name.strip("/")
        if bare == "defaults":
            where = self.origin.get("default_channels")
            return tuple(
                self._simple(c) for c in self.defaults
            ), f"default_channels in {where}" if where else "built in"
        if bare == "local":
            raise UsageError(
                "the 'local' channel is conda-build's output folder, which condafarm does not have; "
                "name the channel's folder or URL instead"
            )
        if bare in self.custom_multichannels:
            where = self.origin.get(f"custom_multichannels.{bare}")
            return tuple(self._simple(c) for c in self.custom_multichannels[bare]), f"custom_multichannels in {where}"
        head = bare
        while head:  # conda matches the longest custom channel that is a leading part of the name
            if head in self.custom_channels:
                where = self.origin.get(f"custom_channels.{head}")
                return (_join(self.custom_channels[head], bare),), f"custom_channels in {where}"
            head = head.rpartition("/")[0]
        where = self.origin.get("channel_alias")
        return (_join(self.channel_alias, bare),), f"channel_alias in {where}" if where else "conda's channel_alias"

    def expand(self, name: str) -> tuple[str, ...]:
        """The channel URLs (or folders) one channel name stands for."""
        return self._lookup(name)[0]

    def expand_all(self, names: Sequence[str]) -> tuple[str, ...]:
        """All the channels `names` stand for, in order, each once; no names means conda's `channels`
        setting, which is `defaults` unless a condarc says otherwise."""
        wanted = list(names) or list(self.channels) or ["defaults"]
        return tuple(dict.fromkeys(url for name in wanted for url in self.expand(name)))

    def explain(self, names: Sequence[str]) -> list[str]:
        """One line per channel name that was looked up (not URLs or folders): what it stands for and why."""
        if not names:
            where = self.origin.get("channels")
            source = f"channels in {where}" if self.channels else "conda's default channels"
            return [f"no channels given: using {source}: {' '.join(self.expand_all(names))}"]
        lines = []
        for name in names:
            channels, why = self._lookup(name)
            if why:
                lines.append(f"channel {name} is {' '.join(channels)} ({why})")
        return lines


def _one_line(exc: Exception) -> str:
    """A YAML error's problem and line (pyyaml spreads it over several lines, with a caret)."""
    problem, mark = getattr(exc, "problem", None), getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 1}"
    return getattr(exc, "strerror", None) or str(exc).splitlines()[0]


def _join(base: str, name: str) -> str:
    separator = "\\" if "\\" in base and not classify(base).is_url else "/"
    return base.rstrip("/\\") + separator + name


def load_condarc(
    environ: Mapping[str, str] | None = None, *, home: Path | None = None, windows: bool | None = None
) -> CondaConfig:
    """The channel settings of every condarc conda would read on this host (see `search_path`), merged, then
    the `CONDA_CHANNEL_ALIAS`, `CONDA_DEFAULT_CHANNELS` and `CONDA_CHANNELS` variables (comma-separated), which
    conda ranks above every file."""
    import yaml

    env = os.environ if environ is None else environ
    windows = sys.platform == "win32" if windows is None else windows
    alias = DEFAULT_CHANNEL_ALIAS
    custom: dict[str, str] = {}
    multi: dict[str, tuple[str, ...]] = {}
    lists: dict[str, tuple[str, ...]] = {"default_channels": (), "channels": ()}
    origin: dict[str, str] = {}
    for location in search_path(env, home=home, windows=windows):
        for path in _files(location):
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise UsageError(
                    f"cannot read condarc {path}: {_one_line(exc)}; fix it or set CONDARC to another file"
                ) from exc
            if not isinstance(data, dict):
                raise UsageError(f"condarc {path} is not a mapping of settings; fix it or set CONDARC to another file")
            if "channel_alias" in data:
                if not isinstance(data["channel_alias"], str):
                    raise UsageError(f"channel_alias in {path} must be a URL")
                alias, origin["channel_alias"] = data["channel_alias"], str(path)
            for name, url in _mapping(data, "custom_channels", path).items():
                if not isinstance(url, str):
                    raise UsageError(f"custom_channels.{name} in {path} must be the URL the channel lives under")
                custom[name], origin[f"custom_channels.{name}"] = url, str(path)
            for name, urls in _mapping(data, "custom_multichannels", path).items():
                multi[name] = _strings(urls, f"custom_multichannels.{name} in {path}")
                origin[f"custom_multichannels.{name}"] = str(path)
            for key in lists:
                if data.get(key) is not None:
                    later = _strings(data[key], f"{key} in {path}")
                    lists[key] = tuple(dict.fromkeys((*later, *lists[key])))
                    origin[key] = str(path)
    if env.get("CONDA_CHANNEL_ALIAS"):
        alias, origin["channel_alias"] = env["CONDA_CHANNEL_ALIAS"], "$CONDA_CHANNEL_ALIAS"
    for key in lists:
        variable = f"CONDA_{key.upper()}"
        if env.get(variable):
            first = [item.strip() for item in env[variable].split(",") if item.strip()]
            lists[key] = tuple(dict.fromkeys((*first, *lists[key])))
            origin[key] = f"${variable}"
    return CondaConfig(alias, custom, multi, lists["default_channels"], lists["channels"], windows, origin)
