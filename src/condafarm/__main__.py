"""`python -m condafarm`: the same as the `condafarm` command, for hosts where scripts are not on PATH."""

from .cli import main

# Guarded: where multiprocessing spawns (Windows, macOS), each index worker process imports this module again.
if __name__ == "__main__":
    main()
