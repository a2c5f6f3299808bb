"""Delphi analysis: consensus, stability, pooling, Cooke weights, scenarios and trend impacts.

Pure computation on plain data and tidy DataFrames. Importable alone: no web framework, no
database, no I/O beyond what the command line (`python -m analysis`, or `delphi-analysis`) reads
and writes. Its own distribution, `delphi-analysis` (analysis/pyproject.toml), needs only numpy,
pandas and scipy; reading XLSX and writing SPSS files are extras (`[xlsx]`, `[spss]`).
"""

#: the distribution's version (analysis/pyproject.toml reads it from here)
__version__ = "1.0.0"
