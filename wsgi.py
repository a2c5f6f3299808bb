"""The WSGI entry point: `app = create_app()` and nothing else."""

from app import create_app

app = create_app()
