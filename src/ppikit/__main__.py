"""``python -m ppikit`` runs the CLI."""

from ppikit.cli import main

main()
