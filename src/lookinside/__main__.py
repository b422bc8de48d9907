"""`python -m lookinside ...` runs the command line."""

from .cli import run

run()
