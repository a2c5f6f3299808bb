"""Load benchmarks (`make load`) and fault runs (`make faults`) against gunicorn on PostgreSQL.

Everything here runs on the loopback interface, against databases the scripts create and drop
themselves, and is bounded in time.
"""
