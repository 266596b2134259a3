"""Stub: the lead screens are being written (see labeling/web/urls.py for the routes)."""

from django.http import Http404


def _missing(*args, **kwargs):
    raise Http404


queue_list = queue_create = queue_preview = queue_edit = queue_backfill = rubric_versions = expert_progress = _missing
