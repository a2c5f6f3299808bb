"""Command-line subcommands for scenarios and trend impact analysis (filled in by the scenarios work)."""

import argparse


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add the smic, maxent, crossimpact and tia subcommands."""
