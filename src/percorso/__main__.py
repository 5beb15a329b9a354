"""``python -m percorso`` runs the CLI."""

from percorso.cli import main

main()
