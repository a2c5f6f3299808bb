"""Use cases. Each takes a SQLAlchemy session, flushes and never commits; no Flask here.

The acting user, the clock (`now`) and settings are parameters, so the same code serves the
web, the API, the command line and the tests.
"""
