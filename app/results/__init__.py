"""Facilitator result views and report and data downloads."""
