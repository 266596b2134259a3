import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "expertloop.settings")
django_application = get_wsgi_application()

from expertloop.middleware import ChunkedBodyMiddleware  # noqa: E402 (needs the settings configured above)

application = ChunkedBodyMiddleware(django_application)
