from django.conf import settings
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser, JSONParser

from labeling.services.records import find_unstorable, too_deep_message


class PayloadTooLarge(APIException):
    status_code = 413
    default_code = "payload_too_large"


class RawJSONParser(BaseParser):
    """Hand the JSON body over as bytes, refusing bodies over the limit; the service decodes it.

    Decoding is left to `labeling.services.records`, which is strict and several times faster than
    building DRF data; DRF still answers 415 for any other Content-Type. A chunked body arrives with
    its length already known (see `expertloop.middleware.ChunkedBodyMiddleware`).
    """

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        limit = settings.INGEST_MAX_BODY_BYTES
        request = parser_context["request"]
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"The body is {int(declared)} bytes; the limit is {limit} bytes.")
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise PayloadTooLarge(f"The body is over the limit of {limit} bytes.")
        return body


class StrictJSONParser(JSONParser):
    """DRF's JSON parser, refusing what would fail later: deep nesting, NUL and lone surrogates.

    The stdlib decoder raises RecursionError (not ValueError) on deeply nested input, which DRF's
    parser lets through as a 500; and PostgreSQL refuses NUL in text and jsonb.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(too_deep_message()) from None
        problem = find_unstorable(data)
        if problem:
            field, message = problem
            raise ParseError(f"{field}: {message}" if field else message)
        return data
