import logging

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger("expertloop")


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = "Labeling"

    def ready(self):
        from labeling.web import navigation  # noqa: F401 — connects the sign-in receiver the navigation reads

        if settings.CELERY_TASK_ALWAYS_EAGER:
            logger.info("REDIS_URL is not set: Celery tasks run eagerly inside this process.")
