from . import db  # noqa: F401  bounds every database connection's waits (expertloop/db.py)
from .celery import app as celery_app

__all__ = ("celery_app",)
