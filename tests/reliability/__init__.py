"""Reliability, security and anonymity promises (docs: reliability checks R1-R20)."""
