"""A channel's `index.html`: one self-contained page to browse, search and filter its packages.

Made from the repodata condafarm already has (no package is read), with the data embedded as JSON and a little
plain JavaScript, so it works from `file://`, from an S3 bucket or from any static web server, with no
external assets. Rows are drawn on demand, so a channel of tens of thousands of builds stays readable. Each build
links to its file (relative to the page) and offers an install command to copy.

Once a channel has a page, every command that changes its records keeps it current (`keep_page_current`):
`.condafarm/page.json` remembers what the page shows (the ETags of each subdir's `repodata.json` and shard index)
and who made each build, so an unchanged channel costs a few HEADs and a rewrite reads no provenance twice.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..conda.repodata import Repodata
from ..side_file import MAX_BYTES
from ..storage import Blob, Storage, open_storage
from ..storage.cas import put_if_unchanged, retry_on_conflict
from ..storage.location import Channel
from .commit import discover_subdirs, load_repodata, repodata_key, shards_key
from .provenance import read_many, summary

PAGE_KEY = "index.html"
#: What the page shows, and who made each build (see `_Shown`).
SHOWN_KEY = ".condafarm/page.json"
JSON = "application/json"


@dataclass(frozen=True)
class Page:
    """What `write_page` wrote: where, and how many builds it shows."""

    url: str
    builds: int
    yanked: int


def _rows(subdir: str, repodata: Repodata, made: Mapping[tuple[str, str], str]) -> list[list[Any]]:
    """One row per build: name, version, build, build number, subdir, size, timestamp (ms), yanked, filename,
    and who or which job made it."""
    rows: list[list[Any]] = []
    for filename, record in repodata.records().items():
        stamp = record.get("timestamp") or record.get("indexed_timestamp") or 0
        stamp = int(stamp) * (1000 if int(stamp) < 10**11 else 1)  # conda writes seconds or milliseconds
        rows.append(
            [
                str(record.get("name", "")),
                str(record.get("version", "")),
                str(record.get("build", "")),
                int(record.get("build_number", 0) or 0),
                subdir,
                int(record.get("size", 0) or 0),
                stamp,
                0,
                filename,
                made.get((subdir, filename), ""),
            ]
        )
    rows += [["", "", "", 0, subdir, 0, 0, 1, name, ""] for name in sorted(set(repodata.removed))]
    return rows


def render_page(
    channel_url: str,
    subdirs: dict[str, Repodata],
    made: Mapping[tuple[str, str], str] | None = None,
    *,
    generated_ms: int | None = None,
) -> bytes:
    """The page's bytes for these subdirs' repodata, with `made[(subdir, filename)]` saying who made each."""
    rows = [row for subdir in sorted(subdirs) for row in _rows(subdir, subdirs[subdir], made or {})]
    data = json.dumps(
        {"channel": channel_url, "generated": generated_ms or int(time.time() * 1000), "rows": rows},
        separators=(",", ":"),
        ensure_ascii=True,
    ).replace("<", "\\u003c")  # no markup inside the <script> it sits in, whatever a package name holds
    options = "".join(f'<option value="{html.escape(s)}">{html.escape(s)}</option>' for s in sorted(subdirs))
    template = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
    page = template.replace("@TITLE@", html.escape(channel_url)).replace("@PLATFORMS@", options)
    return page.replace("@DATA@", data).encode()


@dataclass(frozen=True)
class _Shown:
    """What `.condafarm/page.json` says the page shows: per subdir the ETags of `repodata.json` and the shard
    index it was made from, and who made each build (`subdir/filename` -> summary). Another party can write the
    file: a malformed one reads as none (the page is then made again), and it only ever chooses display text."""

    state: dict[str, list[str]]
    made: dict[str, str]

    @classmethod
    def parse(cls, data: bytes) -> _Shown | None:
        if len(data) > MAX_BYTES:
            return None
        try:
            value = json.loads(data)
            state = {str(k): [str(e) for e in v] for k, v in value["state"].items() if isinstance(v, list)}
            made = {str(k): str(v) for k, v in value["made"].items() if isinstance(v, str)}
        except (ValueError, TypeError, KeyError, AttributeError):
            return None
        return cls(state, made)


def _state(storage: Storage, subdirs: list[str]) -> dict[str, list[str]]:
    """The ETags every change of a subdir's records moves: its `repodata.json` and its shard index."""
    state = {}
    for subdir in subdirs:
        heads = (storage.head(repodata_key(subdir)), storage.head(shards_key(subdir)))
        state[subdir] = [head.etag if head is not None else "" for head in heads]
    return state


def _write(storage: Storage, shown: Blob | None) -> Page:
    """Write the page and, compare-and-swap, what it shows (`shown` is the record as read before)."""
    subdir_names = discover_subdirs(storage)
    state = _state(storage, subdir_names)  # before the records: a page is never older than its state
    subdirs = {subdir: load_repodata(storage, subdir)[0] for subdir in subdir_names}
    earlier = (_Shown.parse(shown.data) if shown is not None else None) or _Shown({}, {})
    keys = [(s, name) for s, repodata in subdirs.items() for name in repodata.records()]
    unknown = [key for key in keys if f"{key[0]}/{key[1]}" not in earlier.made]
    made = {key: earlier.made[f"{key[0]}/{key[1]}"] for key in keys if key not in unknown}
    made.update({key: summary(record) for key, record in read_many(storage, unknown).items()})
    storage.put(PAGE_KEY, render_page(storage.channel.url, subdirs, made), content_type="text/html; charset=utf-8")
    record = {"state": state, "made": {f"{s}/{name}": text for (s, name), text in sorted(made.items())}}
    body = json.dumps(record, indent=0, sort_keys=True).encode()
    # a writer that lost the race may have put an older page over a newer one: it makes the page again
    put_if_unchanged(storage, SHOWN_KEY, body, shown.etag if shown is not None else None, content_type=JSON)
    builds = sum(len(r.records()) for r in subdirs.values())
    yanked = sum(len(set(r.removed)) for r in subdirs.values())
    return Page(storage.channel.url_of(PAGE_KEY), builds, yanked)


def write_page(channel: Channel | Storage) -> Page:
    """Write the channel's `index.html` from the repodata of all its subdirs; from now on every change keeps it
    current (`keep_page_current`)."""
    storage = open_storage(channel)
    return retry_on_conflict(
        lambda: _write(storage, storage.get(SHOWN_KEY, limit=MAX_BYTES)),
        what=storage.channel.url_of(SHOWN_KEY),
        hint="run `condafarm page` again",
    )


def keep_page_current(storage: Storage) -> Page | None:
    """Make the channel's page again if it has one and its records changed since; None when nothing was written.

    One HEAD on a channel without a page; on one with a page that nothing changed, a GET, a LIST (the subdirs)
    and two HEADs per subdir.
    """
    if storage.head(PAGE_KEY) is None:
        return None

    def attempt() -> Page | None:
        shown = storage.get(SHOWN_KEY, limit=MAX_BYTES)
        earlier = _Shown.parse(shown.data) if shown is not None else None
        if earlier is not None and earlier.state == _state(storage, discover_subdirs(storage)):
            return None
        return _write(storage, shown)

    return retry_on_conflict(attempt, what=storage.channel.url_of(SHOWN_KEY), hint="run `condafarm page` again")
