"""Helpers shared by the tests and bench/: S3 servers, real package files, proxies and py-rattler as a client."""

from __future__ import annotations

from pathlib import Path

#: The repository checkout these helpers live in.
ROOT = Path(__file__).resolve().parents[2]
