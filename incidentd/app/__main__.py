"""`python -m incidentd.app` runs the command line."""

from incidentd.app.cli import main

main()
