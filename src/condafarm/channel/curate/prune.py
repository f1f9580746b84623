"""Retention for channels that grow: yank old builds, and delete them once a grace period has passed.

A prune never deletes a file a solver could still pick. It first yanks what its rules let go (records to
`removed`, the file stays, so a job that solved a minute ago still downloads it) and notes when in
`SUBDIR/.condafarm/pruned.json`; a later prune deletes the files it yanked more than the grace period ago:
record first, then file and provenance. Files yanked by a person are not in that ledger and are never
touched. Every change to repodata is a compare-and-swap (`store.update_repodata`), so publishers may run at
the same time.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...conda.repodata import Repodata
from ...defaults import DEFAULT_GRACE_HOURS
from ...errors import StorageError, UsageError
from ...numbers import AT_LEAST_ONE, DURATION, POSITIVE_DURATION, check_number
from ...side_file import BadSideFile, finite, mapping, parse
from ...storage import Storage, open_storage
from ...storage.cas import put_if_unchanged, retry_on_conflict
from ...storage.location import Channel
from ..commit import Current, discover_subdirs, load_repodata, update_repodata
from ..page import keep_page_current
from ..provenance import provenance_key
from ..read import spec_matcher
from .protect import protected_files

log = logging.getLogger(__name__)

LEDGER_KEY = ".condafarm/pruned.json"
DAY = 86400.0

#: filename -> {"state": "yanking" | "yanked", "at": epoch seconds by the store's clock, "build", "size", "stamp", ...}
Ledger = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class PruneItem:
    """One package file that a prune yanks, deletes, waits to delete, or leaves because a lockfile names it."""

    subdir: str
    filename: str
    build: str
    size: int
    #: days since it was built or indexed, whichever is later; None when its record says neither
    age_days: float | None


@dataclass
class PruneReport:
    """What `prune_channel` did (or, in a dry run, would do), subdir by subdir."""

    channel: str
    dry_run: bool
    #: taken out of the index now; a prune deletes their files once the grace period is over
    yanked: list[PruneItem] = field(default_factory=list)
    #: files an earlier prune yanked more than the grace period ago, deleted now
    deleted: list[PruneItem] = field(default_factory=list)
    #: files an earlier prune yanked, still inside the grace period
    waiting: list[PruneItem] = field(default_factory=list)
    #: builds the rules let go that a recent lockfile names: left as they are
    protected: list[PruneItem] = field(default_factory=list)
    #: builds in scope that the rules keep
    kept: int = 0
    #: the lockfiles that protected packages (inside the protection window)
    lockfiles: list[str] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)

    @property
    def bytes_freed(self) -> int:
        return sum(item.size for item in self.deleted)

    def summary(self) -> str:
        """One line for a farm log."""
        verb = "would yank" if self.dry_run else "yanked"
        return (
            f"{self.channel}: {verb} {len(self.yanked)}, deleted {len(self.deleted)} ({self.bytes_freed} bytes freed), "
            f"kept {self.kept}, {len(self.waiting)} waiting for the grace period, {len(self.protected)} protected"
        )


@dataclass(frozen=True)
class _Rules:
    keep: int | None
    newer_than_days: float | None
    grace_seconds: float
    now: float


@dataclass
class _Plan:
    """One subdir as read once: what the rules let go, and what the ledger holds."""

    subdir: str
    repodata: Repodata
    current: Current | None
    ledger: Ledger
    #: the filenames the spec matched (None: no spec, every record)
    scope: set[str] | None
    doomed: dict[str, dict[str, Any]]
    due: list[str] = field(default_factory=list)
    #: ledger entries to forget: published again, or deleted by someone else
    obsolete: list[str] = field(default_factory=list)
    #: noted by a prune that stopped before confirming its yank: the grace period starts now
    unconfirmed: list[str] = field(default_factory=list)


def prune_channel(
    channel: Channel | Storage,
    *,
    keep: int | None = None,
    newer_than_days: float | None = None,
    spec: str | None = None,
    grace_hours: float = DEFAULT_GRACE_HOURS,
    protect_lockfiles: Sequence[str | Path] = (),
    protect_window_days: float = 30.0,
    yes: bool = False,
) -> PruneReport:
    """Yank the builds no rule keeps, and delete the files an earlier prune yanked `grace_hours` ago or more.

    A build is kept if ANY given rule keeps it: it has one of the `keep` highest build numbers of its name,
    version and subdir (every variant of a build number counts as one build), or it was built or indexed
    less than `newer_than_days` ago. `spec` (a conda match spec) limits both phases to the packages it matches.
    Files named in a lockfile of `protect_lockfiles` (files, or folders searched for them) modified within
    `protect_window_days` are left as they are. Without `yes` nothing is written: the report says what
    would happen.
    """
    if keep is None and newer_than_days is None:
        raise UsageError("say what to keep: --keep N (newest builds) and/or --newer-than DAYS")
    if keep is not None:
        check_number(keep, "--keep", AT_LEAST_ONE)
    if newer_than_days is not None:
        check_number(newer_than_days, "--newer-than (days)", POSITIVE_DURATION)
    check_number(grace_hours, "--grace-hours", DURATION)
    check_number(protect_window_days, "--protect-window-days", DURATION)
    rules = _Rules(keep, newer_than_days, grace_hours * 3600, time.time())
    matches = spec_matcher(spec) if spec else None
    storage = open_storage(channel)
    protected, lockfiles = protected_files(protect_lockfiles, protect_window_days, rules.now, storage)
    report = PruneReport(storage.channel.url, dry_run=not yes, lockfiles=lockfiles)
    for subdir in discover_subdirs(storage):
        plan = _plan(storage, subdir, rules, matches, protected, report)
        if yes:
            _act(storage, plan, rules, report)
        else:
            report.yanked += [_item(subdir, n, r, rules.now) for n, r in plan.doomed.items()]
            report.deleted += [_item(subdir, n, plan.ledger[n], rules.now) for n in plan.due]
    if yes:
        keep_page_current(storage)
    report.requests = storage.request_counts()
    return report


def _plan(
    storage: Storage,
    subdir: str,
    rules: _Rules,
    matches: Callable[[str, dict[str, Any]], bool] | None,
    protected: set[tuple[str, str]],
    report: PruneReport,
) -> _Plan:
    repodata, current = load_repodata(storage, subdir)
    ledger, _ = _load_ledger(storage, subdir)
    store_now = storage.store_time()  # the grace period is timed by the store's clock alone, as every age is
    records = repodata.records()
    in_scope = {n for n, r in records.items() if matches is None or _matches(matches, subdir, r)}
    chosen = _select(records, in_scope, rules.keep, rules.newer_than_days, rules.now)
    doomed = {n: records[n] for n in sorted(chosen) if (subdir, n) not in protected}
    report.protected += [_item(subdir, n, records[n], rules.now) for n in sorted(chosen) if n not in doomed]
    report.kept += len(in_scope) - len(chosen)
    plan = _Plan(subdir, repodata, current, ledger, None if matches is None else in_scope, doomed)
    removed = set(repodata.removed)
    for name, entry in sorted(ledger.items()):
        if name in records or name not in removed:
            plan.obsolete.append(name)
        elif matches is not None and not _matches(matches, subdir, entry):
            continue
        elif (subdir, name) in protected:
            report.protected.append(_item(subdir, name, entry, rules.now))
        elif (
            entry.get("state") == "yanked"
            and store_now is not None
            and store_now - float(entry["at"]) >= rules.grace_seconds
        ):
            plan.due.append(name)
        else:
            report.waiting.append(_item(subdir, name, entry, rules.now))
            if entry.get("state") != "yanked":
                plan.unconfirmed.append(name)
    return plan


def _act(storage: Storage, plan: _Plan, rules: _Rules, report: PruneReport) -> None:
    """Note the candidates in the ledger, yank them, delete the due files (record first), settle the ledger."""
    subdir, doomed = plan.subdir, plan.doomed
    intents = {n: {**_entry(r), "state": "yanking", "at": _store_now(storage)} for n, r in doomed.items()}
    if intents:
        _update_ledger(storage, subdir, lambda ledger: ledger.update(intents))
    yanked: list[str] = []
    current = plan.current
    records = plan.repodata

    def yank(repodata: Repodata) -> None:
        # Runs on the freshest repodata: a build someone published or yanked meanwhile changes what may go.
        nonlocal yanked
        records = repodata.records()
        scope = set(records) if plan.scope is None else plan.scope
        still = _select(records, scope, rules.keep, rules.newer_than_days, rules.now)
        yanked = [n for n in doomed if n in still]
        for name in yanked:
            repodata.pop(name)
        repodata.removed = sorted(set(repodata.removed) | set(yanked))

    if doomed:
        current, _ = update_repodata(storage, subdir, yank, current=current)
        records = current.repodata
    # Record first, then file: only names out of the index (as the repodata just read or written says) go.
    deletable = [n for n in plan.due if records.get(n) is None and n in records.removed]
    _delete(storage, [key for n in deletable for key in (f"{subdir}/{n}", provenance_key(subdir, n))])
    if deletable:
        gone = set(deletable)

        def forget(repodata: Repodata) -> None:
            repodata.removed = [n for n in repodata.removed if n not in gone]

        update_repodata(storage, subdir, forget, current=current)
    confirmed_at = _store_now(storage)
    planned = {n: plan.ledger[n] for n in plan.obsolete + deletable}
    done = set(yanked)

    def settle(ledger: Ledger) -> None:
        for name, entry in planned.items():
            if ledger.get(name) == entry:  # another prune may have noted it again meanwhile
                del ledger[name]
        for name in plan.unconfirmed:
            if ledger.get(name) == plan.ledger[name]:
                ledger[name] = {**plan.ledger[name], "state": "yanked", "at": confirmed_at}
        for name in doomed:
            if name in done:
                ledger[name] = {**ledger.get(name, intents[name]), "state": "yanked", "at": confirmed_at}
            elif ledger.get(name) == intents[name]:
                del ledger[name]

    if doomed or planned or plan.unconfirmed:
        _update_ledger(storage, subdir, settle)
    report.yanked += [_item(subdir, n, doomed[n], rules.now) for n in yanked]
    report.deleted += [_item(subdir, n, plan.ledger[n], rules.now) for n in deletable]


def _select(
    records: dict[str, dict[str, Any]],
    in_scope: set[str],
    keep: int | None,
    newer_than_days: float | None,
    now: float,
) -> set[str]:
    """The filenames in `in_scope` that no rule keeps (see `prune_channel` for the rules)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for name in in_scope & records.keys():
        record = records[name]
        groups.setdefault((record["name"], str(record["version"])), []).append(name)
    chosen: set[str] = set()
    for names in groups.values():
        numbers = sorted({int(records[n].get("build_number", 0)) for n in names}, reverse=True)
        newest = set(numbers[:keep]) if keep else set()
        for name in names:
            if int(records[name].get("build_number", 0)) in newest:
                continue
            if newer_than_days is not None:
                stamp = _stamp(records[name])
                if stamp is None or now - stamp < newer_than_days * DAY:
                    continue
            chosen.add(name)
    return chosen


def _matches(matches: Callable[[str, dict[str, Any]], bool], subdir: str, record: dict[str, Any]) -> bool:
    try:
        return matches(subdir, record)
    except Exception:  # py-rattler refuses a record it cannot read (a bad version): never prune that by spec
        return False


def _stamp(record: dict[str, Any]) -> float | None:
    """When the package was built or indexed, whichever is later, in epoch seconds (records say milliseconds,
    some old ones seconds)."""
    stamps = [
        float(v) for v in (record.get("timestamp"), record.get("indexed_timestamp")) if isinstance(v, int | float)
    ]
    return max(s / 1000 if s > 1e11 else s for s in stamps) if stamps else None


def _entry(record: dict[str, Any]) -> dict[str, Any]:
    """What the ledger keeps of a record: enough to report the file and match a spec once the record is gone."""
    keys = ("name", "version", "build", "build_number", "size")
    return {**{k: record[k] for k in keys if k in record}, "stamp": _stamp(record)}


def _item(subdir: str, name: str, fields: dict[str, Any], now: float) -> PruneItem:
    """The report's line for a record, or for a ledger entry (which keeps the record's `stamp`)."""
    stamp = fields["stamp"] if "stamp" in fields else _stamp(fields)
    age = (now - float(stamp)) / DAY if stamp is not None else None
    return PruneItem(subdir, name, str(fields.get("build", "")), int(fields.get("size") or 0), age)


def _store_now(storage: Storage) -> float:
    """The store's time for a ledger entry: prunes on hosts whose clocks disagree compare only the store's times
    (`Storage.store_time`), so a host running a day ahead never deletes a file yanked a moment ago."""
    now = storage.store_time()
    if now is None:
        raise StorageError(
            f"{storage.channel.url} did not say its time, which prune times its grace period by (a folder this process "
            "cannot write, or a store whose answers carry no Date header): check that you may write the channel"
        )
    return now


def _delete(storage: Storage, keys: list[str]) -> None:
    if len(keys) > 1:
        with ThreadPoolExecutor(max_workers=storage.read_threads * 4) as pool:
            list(pool.map(storage.delete, keys))
    elif keys:
        storage.delete(keys[0])


def _ledger_key(subdir: str) -> str:
    return f"{subdir}/{LEDGER_KEY}"


def _load_ledger(storage: Storage, subdir: str) -> tuple[Ledger, str | None]:
    blob = storage.get(_ledger_key(subdir))
    if blob is None:
        return {}, None
    # Losing the ledger only means its yanked files stay (as if a person had yanked them), never a deletion.
    where, otherwise = storage.channel.url_of(_ledger_key(subdir)), "its yanked files will not be deleted"
    return parse(blob.data, where, _ledger_shape, otherwise=otherwise, limit=None) or {}, blob.etag


def _ledger_shape(value: Any) -> Ledger:
    """The ledger's entries, each an object with a state, a finite `at` and (where given) a whole size."""
    ledger = mapping(mapping(value, "the ledger")["pruned"], "`pruned`")
    for name, entry in ledger.items():
        mapping(entry, name)
        finite(entry["at"], f"{name}: `at`")
        if entry.get("state") not in ("yanking", "yanked"):
            raise BadSideFile(f"{name}: `state` is not yanking or yanked")
        if not isinstance(entry.get("size", 0), int) or isinstance(entry.get("size"), bool):
            raise BadSideFile(f"{name}: `size` is not a whole number")
    return ledger


def _update_ledger(storage: Storage, subdir: str, change: Callable[[Ledger], None]) -> None:
    def attempt() -> None:
        ledger, etag = _load_ledger(storage, subdir)
        change(ledger)
        data = json.dumps({"version": 1, "pruned": ledger}, sort_keys=True, separators=(",", ":")).encode()
        put_if_unchanged(storage, _ledger_key(subdir), data, etag, content_type="application/json")

    retry_on_conflict(attempt, what=storage.channel.url_of(_ledger_key(subdir)), hint="retry the prune")


__all__ = ["LEDGER_KEY", "PruneItem", "PruneReport", "prune_channel"]
