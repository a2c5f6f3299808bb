"""Delphi analysis: consensus, stability, pooling, Cooke weights, scenarios and trend impacts.

Pure computation on plain data and tidy DataFrames. Importable alone: no web framework, no
database, no I/O beyond what the command line (`python -m analysis`) reads and prints.
"""
