"""Background work: the queue (Huey), the job runner with leases and progress, the schedule.

The database holds the truth (app/models/jobs.py); the queue only says "look at row N now",
and a sweep every minute finds what a lost message or a killed worker left behind.
"""
