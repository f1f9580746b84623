"""What an index run or a publish did: for the CLI, the worker plugin and tests."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SubdirReport:
    """What one index run did (or, with dry_run, would do) to one subdir."""

    subdir: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # filename -> reason
    unchanged: int = 0
    wrote: bool = False
    #: objects written by an older condafarm whose Cache-Control header this run corrected
    headers_corrected: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


@dataclass
class IndexReport:
    channel: str
    subdirs: list[SubdirReport]
    seconds: float
    dry_run: bool
    requests: dict[str, int] = field(default_factory=dict)

    def total(self, what: str) -> int:
        """How many files were added, updated, removed, skipped or unchanged over all subdirs."""
        if what == "unchanged":
            return sum(s.unchanged for s in self.subdirs)
        return sum(len(getattr(s, what)) for s in self.subdirs)

    def summary(self) -> str:
        verb = "would be" if self.dry_run else ""
        parts = [
            f"{self.total('added')} added",
            f"{self.total('updated')} updated",
            f"{self.total('removed')} removed",
            f"{self.total('skipped')} skipped",
            f"{self.total('unchanged')} unchanged",
        ]
        prefix = f"{self.channel}: " + (f"{verb} " if verb else "")
        return f"{prefix}{', '.join(parts)} in {len(self.subdirs)} subdirs, {self.seconds:.2f}s"


@dataclass(frozen=True)
class Published:
    """One package a publish put in the channel."""

    filename: str
    subdir: str
    url: str
    name: str
    version: str
    build: str
    build_number: int
    size: int
    sha256: str
    replaced: bool = False


@dataclass
class PublishReport:
    """What one publish did, and the requests it made."""

    channel: str
    packages: list[Published] = field(default_factory=list)
    #: files of interrupted publishes that this one indexed
    adopted: list[str] = field(default_factory=list)
    seconds: float = 0.0
    requests: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        extra = f", indexed {len(self.adopted)} left by interrupted publishes" if self.adopted else ""
        return f"published {len(self.packages)} package(s) to {self.channel}{extra} in {self.seconds:.2f}s"
