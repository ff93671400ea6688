"""`python -m okr_pipeline` runs the `okr` command."""

from okr_pipeline.cli import main

main()
