from django.conf import settings
from rest_framework.exceptions import APIException
from rest_framework.parsers import BaseParser


class PayloadTooLarge(APIException):
    status_code = 413
    default_code = "payload_too_large"


class RawJSONParser(BaseParser):
    """Hand the JSON body over as bytes, refusing bodies over the limit; the service decodes it.

    Decoding is left to `labeling.services.records`, which is strict and several times faster than
    building DRF data; DRF still answers 415 for any other Content-Type.
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
