"""Stub: being written (see labeling/web/urls.py)."""

from django.http import Http404


def _missing(*args, **kwargs):
    raise Http404


dataset_list = dataset_create = dataset_detail = dataset_build = _missing
