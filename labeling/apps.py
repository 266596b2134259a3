import logging

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger("expertloop")


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = "Labeling"

    def ready(self):
        from django.db.models.signals import post_delete

        from labeling import checks  # noqa: F401 — registers the deployment checks of `manage.py check --deploy`
        from labeling.models import DatasetVersion
        from labeling.services.version_files import version_deleted
        from labeling.web import navigation  # noqa: F401 — connects the sign-in receiver the navigation reads

        # A deleted version's files go with it (cascades from a dataset or project too), once the deletion commits.
        post_delete.connect(version_deleted, sender=DatasetVersion, dispatch_uid="labeling.version_deleted")

        if settings.CELERY_TASK_ALWAYS_EAGER:
            logger.info("REDIS_URL is not set: Celery tasks run eagerly inside this process.")
