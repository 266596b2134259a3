"""Cursor pagination for large pulls: on a unique, unchanging integer ordering, with signed cursors.

DRF's cursor is a base64 position any client can write; here it is signed for the endpoint and the list it
pages (`labeling.rules.cursors`): the project, the path and the filters. A cursor that was not handed out for
that list is a 400, never a query.
"""

from base64 import urlsafe_b64decode, urlsafe_b64encode
from urllib import parse

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.utils.urls import replace_query_param

from api.parameters import page_size_asked
from labeling.rules.cursors import cursor_position, sign_cursor


class StrictCursorPagination(CursorPagination):
    """CursorPagination over an integer column whose cursors are signed for the endpoint (the URL's name) and
    the list: the view's `project`, the path and every query parameter but the cursor and the page size."""

    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"
    # DRF's max_page_size clamps rather than refuses (the outputs list, paged by hand, refuses out of range): the
    # schema says so, so that a client does not learn it by counting rows.
    page_size_query_description = (
        f"Items per page: {page_size} by default, at most {max_page_size:,}; a larger value is lowered to "
        f"{max_page_size:,}, and one that is not a whole number of 1 or more is a 400."
    )

    def get_page_size(self, request):
        # DRF reads `?page_size=ten` (or 0, or -5) as the default page: a typo would pass unseen while the schema
        # says integer. Refused as every other query parameter is, naming it.
        size = page_size_asked(request.query_params.get(self.page_size_query_param), default=self.page_size)
        if size is None:
            refusal = f"Use a whole number of 1 or more; a page holds at most {self.max_page_size:,} items."
            raise ValidationError({self.page_size_query_param: refusal})
        return min(size, self.max_page_size)

    def paginate_queryset(self, queryset, request, view=None):
        self.view = view
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["default"] = self.page_size
                parameter["schema"]["minimum"] = 1  # no maximum: a larger value is lowered, not refused
        return parameters

    def get_paginated_response_schema(self, schema):
        # DRF writes OpenAPI 3.0's `nullable: true`, which 3.1 (this schema's version) no longer has: the null
        # links of a first or last page would not match. 3.1 says it with a list of types.
        paginated = super().get_paginated_response_schema(schema)
        for link in ("next", "previous"):
            described = paginated["properties"][link]
            del described["nullable"]
            described["type"] = [described["type"], "null"]
        return paginated

    def _endpoint(self) -> str:
        match = self.request.resolver_match
        return match.view_name if match else type(self).__name__

    def list_path(self) -> str:
        """The path of the list being paged."""
        return self.request.path

    def _scope(self) -> str:
        # The project by id: a slug can change hands. The page size is no part of it: a keyset page of another
        # size starts from the same position.
        paging = (self.cursor_query_param, self.page_size_query_param)
        filters = sorted(
            (name, value)
            for name, values in self.request.query_params.lists()
            if name not in paging
            for value in values
        )
        return f"{self.view.project.pk} {self.list_path()}?{parse.urlencode(filters)}"

    def encode_cursor(self, cursor: Cursor) -> str:
        tokens = {"o": cursor.offset, "r": int(cursor.reverse), "p": cursor.position}
        querystring = parse.urlencode({name: value for name, value in tokens.items() if value not in (0, None)})
        position = urlsafe_b64encode(querystring.encode()).decode().rstrip("=")
        signed = sign_cursor(position, endpoint=self._endpoint(), scope=self._scope())
        return replace_query_param(self.base_url, self.cursor_query_param, signed)

    def decode_cursor(self, request) -> Cursor | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if not encoded:  # `?cursor=` is the first page, as on the outputs list
            return None
        # Signed by this endpoint, so well formed: only what encode_cursor wrote can get past the signature.
        position = cursor_position(
            encoded, endpoint=self._endpoint(), scope=self._scope(), parameter=self.cursor_query_param
        )
        tokens = parse.parse_qs(urlsafe_b64decode(position + "=" * (-len(position) % 4)).decode())
        return Cursor(
            offset=int(tokens.get("o", ["0"])[0]),
            reverse=tokens.get("r", ["0"])[0] == "1",
            position=tokens.get("p", [None])[0],
        )


class DatasetPagination(StrictCursorPagination):
    ordering = "pk"


class VersionPagination(StrictCursorPagination):
    ordering = "-number"


class RowPagination(StrictCursorPagination):
    """Rows in position order. The links name the version the first page came from, so that paging
    through `latest` never jumps to a version built in the meantime."""

    ordering = "position"

    def list_path(self) -> str:
        # The version by number, `latest` resolved: a cursor of version 3 does not page version 4.
        return parse.urlsplit(self.view.pinned_url(self.request)).path

    def paginate_queryset(self, queryset, request, view=None):
        page = super().paginate_queryset(queryset, request, view)
        self.base_url = view.pinned_url(request)
        return page
