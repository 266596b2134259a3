"""`/api/schema/`: the OpenAPI schema, generated and rendered once per process.

drf-spectacular generates the schema on every request (it has no cache of its own) and its YAML renderer is slower
still; the schema only changes with the code and the settings. Nothing of the request goes into it: the schema view
authenticates no one (SERVE_AUTHENTICATION), every endpoint is listed (SERVE_PUBLIC) and no `servers` are named, so a
request's host, headers or credentials leave it alike. What does change it is kept out of the cache: `?lang=` (with
USE_I18N) and Accept parameters (`indent=`). `?version=` does not: the API has one version, v1, whose schema every
caller gets; another is a 400 (drf-spectacular wrote any value into `info.version`, generating the schema again for
each). A changed setting (a test's override) empties the cache.
"""

import threading

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework.exceptions import ValidationError

from api.negotiation import ErrorsAsJson

API_VERSION = "v1"  # the API's one version, in its paths (/api/v1/)

# The rendered schema, by renderer class: (body, Content-Type, Content-Disposition).
_rendered: dict[type, tuple[bytes, str, str]] = {}
_lock = threading.Lock()


@receiver(setting_changed)
def _forget_rendered_schemas(**kwargs) -> None:
    with _lock:
        _rendered.clear()


class SchemaView(ErrorsAsJson, SpectacularAPIView):
    """drf-spectacular's schema view, answering from this process's rendered copy after the first request."""

    cache_key: type | None = None

    @extend_schema(exclude=True)  # as drf-spectacular's own get is: the schema does not list itself
    def get(self, request, *args, **kwargs):
        for version in request.GET.getlist("version"):
            if version.strip().lower() not in ("", API_VERSION):
                raise ValidationError(
                    {"version": f"{version[:40]!r} is no version of this API: it has one, {API_VERSION} (/api/v1/)."}
                )
        renderer = request.accepted_renderer
        plain = request.accepted_media_type == renderer.media_type and "lang" not in request.GET
        if not plain or self.api_version or self.custom_settings:
            return super().get(request, *args, **kwargs)
        with _lock:
            cached = _rendered.get(type(renderer))
        if cached is None:
            self.cache_key = type(renderer)  # stored by finalize_response, once rendered
            return super().get(request, *args, **kwargs)
        body, content_type, disposition = cached
        return HttpResponse(body, content_type=content_type, headers={"Content-Disposition": disposition})

    def _get_version_parameter(self, request):
        """None: `?version=` names the one version (`get` refused any other), whose schema is the plain one."""
        return None

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if self.cache_key is not None and response.status_code == 200:
            response.render()
            with _lock:
                _rendered[self.cache_key] = (
                    response.content,
                    response["Content-Type"],
                    response["Content-Disposition"],
                )
        return response
