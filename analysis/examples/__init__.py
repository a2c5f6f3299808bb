"""Worked examples and sample data; `python -m analysis.examples.worked_example` runs the analysis."""
