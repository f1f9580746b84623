"""Check a package's metadata with py-rattler's own parsers, so every record we index is one clients can read.

rattler (behind condafarm's environments, pixi and rattler-build) reads `repodata.json` with strict typed parsers:
one record it cannot parse makes every record of that package name unreadable through its sparse reader, and the
whole file unreadable to an eager one (`RepoData.from_path`).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import PackageError


def _hex(digits: int) -> Callable[[Any], bool]:
    pattern = re.compile(f"[0-9a-fA-F]{{{digits}}}")
    return lambda value: isinstance(value, str) and pattern.fullmatch(value) is not None


#: Record fields copied from index.json that rattler's record parser types but its index.json parser ignores:
#: what rattler accepts for each, and how to say it.
_RECORD_ONLY_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "legacy_bz2_md5": (_hex(32), "an md5 in hex"),
    "attestations_sha256": (_hex(64), "a sha256 in hex"),
    "legacy_bz2_size": (lambda value: type(value) is int and 0 <= value < 2**64, "a non-negative integer"),
}
#: Required by rattler's index.json parser; used to test one field at a time when a whole index.json fails.
_MINIMAL_INDEX = {"name": "x", "version": "0", "build": "0", "build_number": 0}
_SPEC_FIELDS = ("depends", "constrains")
_MAX_SHOWN = 160


def load_parsers() -> None:
    """Import py-rattler now: a process about to fork workers that check records saves each of them the import
    (~45 ms of CPU each), which they would otherwise make at their first record."""
    import rattler  # noqa: F401


def check_record(index: Mapping[str, Any], run_exports: Mapping[str, Any] | None, filename: str) -> None:
    """Raise `PackageError` with a one-line reason if a conda client could not read the record made from
    `index` (a package's index.json) and `run_exports` (its info/run_exports.json).

    Checks what py-rattler checks when it reads a record (the name, the version, the type of every field it
    knows) and what its solver checks when it uses one (each `depends`/`constrains` entry is a match spec).
    """
    # Imported here, not at the top: py-rattler is slow to import, and `condafarm --version` must not pay for it.
    import rattler
    from rattler.exceptions import IoError

    try:
        rattler.IndexJson.from_str(json.dumps(index))
    except IoError as exc:  # what py-rattler raises for JSON its parser refuses, with serde's message
        raise PackageError(f"{filename}: {_index_problem(index, exc)}") from None
    for field in _SPEC_FIELDS:
        for spec in index.get(field, ()):  # a list of strings: rattler's parser just checked that
            problem = _spec_problem(spec)
            if problem:
                raise PackageError(
                    f"{filename}: index.json {field} entry {_shown(spec)} is not a match spec conda clients "
                    f"can parse ({problem})"
                )
    for field, (valid, expected) in _RECORD_ONLY_FIELDS.items():
        value = index.get(field)
        if value is not None and not valid(value):
            raise PackageError(
                f"{filename}: index.json field {field!r} is {_shown(value)}, which conda clients cannot read "
                f"(expected {expected})"
            )
    sources = {"info/run_exports.json": run_exports, "index.json field 'run_exports'": index.get("run_exports")}
    for source, value in sources.items():
        if value is not None:
            try:
                rattler.RunExportsJson.from_str(json.dumps(value))
            except IoError as exc:
                raise PackageError(f"{filename}: {source} cannot be read by conda clients ({_detail(exc)})") from None


def _index_problem(index: Mapping[str, Any], exc: Exception) -> str:
    """Which field of `index` rattler refused, found by parsing each field alone (only on this error path)."""
    import rattler
    from rattler.exceptions import IoError

    for field, value in index.items():
        try:
            rattler.IndexJson.from_str(json.dumps({**_MINIMAL_INDEX, field: value}))
        except IoError as field_exc:
            return (
                f"index.json field {field!r} is {_shown(value)}, which conda clients cannot read ({_detail(field_exc)})"
            )
    return f"index.json cannot be read by conda clients ({_detail(exc)})"


@functools.lru_cache(maxsize=8192)
def _spec_problem(spec: str) -> str | None:
    """Why rattler's solver cannot parse `spec`, or None. Cached: thousands of packages share a few specs."""
    import rattler
    from rattler.exceptions import InvalidMatchSpecError

    try:
        rattler.MatchSpec(spec)  # lenient, as rattler's solver parses dependencies
    except InvalidMatchSpecError as exc:
        return _detail(exc)
    return None


def _detail(exc: Exception) -> str:
    """rattler's message on one line, without serde's position in JSON the user never saw."""
    message = re.sub(r" at line \d+ column \d+$", "", str(exc).strip())
    return _one_line(message)


def _shown(value: object) -> str:
    return _one_line(repr(value))


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."
