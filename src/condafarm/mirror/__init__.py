"""Mirroring the upstream packages a farm needs (solved per platform) into its channel: `condafarm mirror`.

`spec.py` says what to take, `closure.py` solves it from the upstream, `fetch.py` reads and checks each file,
`run.py` publishes them with publish's guarantees, and `stored.py` keeps the specs in the channel.
"""

from __future__ import annotations

from .closure import Wanted
from .run import MirrorReport, mirror_channel
from .spec import MirrorSpec, split_specs
from .stored import read_mirrors

__all__ = ["MirrorReport", "MirrorSpec", "Wanted", "mirror_channel", "read_mirrors", "split_specs"]
