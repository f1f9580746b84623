"""`python -m condafarm`: the same as the `condafarm` command, for hosts where scripts are not on PATH."""

from .cli import main

main()
