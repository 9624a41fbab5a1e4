"""`python -m awardcycle` is the `awardcycle` command."""

from awardcycle.cli import main

main()
