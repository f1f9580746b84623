"""condafarm's version and the User-Agent of its own HTTP requests: a module below every other, so any may import it."""

from __future__ import annotations

__version__ = "0.1.0"

#: What condafarm's own HTTP requests (mirror downloads) say they come from.
USER_AGENT = f"condafarm/{__version__}"
