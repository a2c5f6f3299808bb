"""Tests of the background queue: the runner, leases and retries, and a real worker on Redis."""
