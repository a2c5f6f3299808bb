"""A real `flask jobs worker` that also knows the tests' job kinds (tests.jobs.handlers).

    python -m tests.jobs.worker DATABASE_URI JOB_QUEUE_URL

It builds the app as the tests do (testing config) but on the given queue, with a short lease
so a killed worker's job is taken up again within seconds.
"""

from __future__ import annotations

import sys

from app import create_app
from app.jobs.queue import huey
from tests.jobs import handlers  # noqa: F401 - registers the test job kinds

LEASE_SECONDS = 2


def main() -> None:
    """Run the consumer with the scheduler until killed."""
    database, queue = sys.argv[1], sys.argv[2]
    app = create_app(
        {
            "ENV_NAME": "testing",
            "SQLALCHEMY_DATABASE_URI": database,
            "JOB_QUEUE_URL": queue,
            "JOB_LEASE_SECONDS": LEASE_SECONDS,
            "JOB_RETRY_DELAY_SECONDS": 1,
        }
    )
    with app.app_context():
        huey.create_consumer(workers=1, worker_type="thread", periodic=True).run()


if __name__ == "__main__":
    main()
