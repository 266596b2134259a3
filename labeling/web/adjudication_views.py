"""Stub: being written (see labeling/web/urls.py)."""

from django.http import Http404


def _missing(*args, **kwargs):
    raise Http404


adjudication_list = adjudicate_item = _missing
