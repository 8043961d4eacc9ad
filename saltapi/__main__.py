"""`python -m saltapi ...` is the `saltapi` console command."""

from .console import main

main(prog_name="saltapi")
