"""Cursor pagination for large pulls: on a unique, unchanging integer ordering, with a 400 for a bad cursor."""

import binascii
from base64 import b64decode

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination


class StrictCursorPagination(CursorPagination):
    """CursorPagination over an integer column; a cursor that was not handed out is refused with a 400.

    DRF answers a cursor it cannot decode with a 404, and passes a decodable one with a non-numeric
    position straight to the database (a 500): both are the client's mistake, so both are 400s.
    """

    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"
    invalid_cursor_message = "Invalid cursor: pass back the `next` or `previous` link exactly as it was given."

    def decode_cursor(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        try:
            # DRF's own decoding skips characters that are not base64, so "%00" would read as "no cursor".
            if encoded is not None:
                b64decode(encoded.encode("ascii", errors="replace"), validate=True)
            cursor = super().decode_cursor(request)
        except (NotFound, binascii.Error):
            raise ValidationError({self.cursor_query_param: self.invalid_cursor_message}) from None
        if cursor is not None and cursor.position is not None and not _is_int(cursor.position):
            raise ValidationError({self.cursor_query_param: self.invalid_cursor_message})
        return cursor


def _is_int(value: str) -> bool:
    digits = value.removeprefix("-")
    return digits.isascii() and digits.isdigit() and len(digits) <= 18


class DatasetPagination(StrictCursorPagination):
    ordering = "pk"


class VersionPagination(StrictCursorPagination):
    ordering = "-number"


class RowPagination(StrictCursorPagination):
    """Rows in position order. The links name the version the first page came from, so that paging
    through `latest` never jumps to a version built in the meantime."""

    ordering = "position"

    def paginate_queryset(self, queryset, request, view=None):
        page = super().paginate_queryset(queryset, request, view)
        self.base_url = view.pinned_url(request)
        return page
