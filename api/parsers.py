import codecs
import zlib
from functools import partial

from django.conf import settings
from django.utils.http import parse_header_parameters
from rest_framework.exceptions import APIException, ParseError, UnsupportedMediaType
from rest_framework.parsers import BaseParser, JSONParser, get_encoding
from rest_framework.utils import json

from labeling.services.records import find_unstorable, too_deep_message


class PayloadTooLarge(APIException):
    status_code = 413
    default_code = "payload_too_large"


def read_bounded(stream, request, limit: int) -> bytes:
    """The request body, or PayloadTooLarge past `limit` bytes: refused by its declared length before any read,
    else after reading at most one byte past the limit; ParseError when fewer bytes arrive than were declared."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The body is {int(declared)} bytes; the limit is {limit} bytes.")
    body = stream.read(limit + 1) if stream is not None else b""
    if len(body) > limit:
        raise PayloadTooLarge(f"The body is over the limit of {limit} bytes.")
    if declared.isdigit() and len(body) < int(declared):
        # The connection ended mid-upload: gunicorn and Django hand over what arrived without a word, and binary
        # protobuf cut at a message boundary still decodes, as a smaller export.
        raise ParseError(
            f"The body ended after {len(body)} of the {int(declared)} bytes its Content-Length declares: it was cut "
            "short; send it again."
        )
    return body


def refuse_content_coding(parser_context: dict | None, media_type: str) -> None:
    """UnsupportedMediaType for a body sent with a Content-Encoding (gzip, br, …): the JSON parsers read plain JSON,
    and a gzipped batch read as JSON was a 400 about its first byte (RFC 9110: a coding the server does not take is a
    415). OTLP, whose exporters compress, has its own parser that undoes gzip and deflate."""
    request = (parser_context or {}).get("request")
    coding = request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower() if request is not None else ""
    if coding not in ("", "identity"):
        raise UnsupportedMediaType(
            media_type, detail=f"Content-Encoding {coding[:40]!r} is not supported here: send the JSON uncompressed."
        )


UTF_8_NAMES = ("utf-8", "utf8")


def refuse_other_charset(media_type: str | None) -> None:
    """UnsupportedMediaType for a JSON body declared in a charset other than UTF-8 (`charset=latin-1`): the API reads
    JSON as UTF-8 (RFC 8259 8.1). Ingest and OTLP decoded such a body as UTF-8 regardless, misreading it without a
    word, while the other endpoints honoured the charset: one rule for every endpoint that takes JSON instead, so a
    client learns it on its first request, whichever endpoint that is."""
    try:
        _, params = parse_header_parameters(media_type or "")
    except ValueError:  # over Django's header length, or an RFC 2231 charset Python does not know
        params = {"charset": "?"}
    charset = params.get("charset", "utf-8").strip().lower()
    if charset not in UTF_8_NAMES:
        raise UnsupportedMediaType(
            media_type,
            detail=f"The body's charset {charset[:40]!r} is not read here: the API reads JSON as UTF-8. Send it "
            "encoded as UTF-8, with `Content-Type: application/json` or `application/json; charset=utf-8`.",
        )


class RawJSONParser(BaseParser):
    """Hand the JSON body over as bytes, refusing bodies over the limit; the service decodes it.

    Decoding is left to `labeling.services.records`, which is strict and several times faster than
    building DRF data; DRF still answers 415 for any other Content-Type. A chunked body arrives with
    its length already known (see `expertloop.middleware.ChunkedBodyMiddleware`).
    """

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        refuse_content_coding(parser_context, media_type)
        refuse_other_charset(media_type)
        return read_bounded(stream, parser_context["request"], settings.INGEST_MAX_BODY_BYTES)


class StrictJSONParser(JSONParser):
    """DRF's JSON parser, refusing what would fail later: deep nesting, NUL and lone surrogates, and what it would
    read otherwise than the sender meant: a key given twice in one object.

    The stdlib decoder raises RecursionError (not ValueError) on deeply nested input, which DRF's
    parser lets through as a 500; and PostgreSQL refuses NUL in text and jsonb.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        refuse_content_coding(parser_context, media_type)
        refuse_other_charset(media_type)
        encoding = get_encoding(parser_context or {})
        duplicated: list[_Duplicated] = []  # the objects that gave a key twice: the body is walked only if any did
        try:
            # DRF's JSONParser.parse, with the hook: json keeps the last of a duplicated key without a word.
            data = json.load(
                codecs.getreader(encoding)(stream),
                parse_constant=json.strict_constant if self.strict else None,
                object_pairs_hook=partial(_object_once, duplicated),
            )
        except RecursionError:
            raise ParseError(too_deep_message()) from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        # Unstorable first: the walk for the duplicated key's path is depth-bounded then.
        problem = find_unstorable(data) or (_duplicated_key(data) if duplicated else None)
        if problem:
            field, message = problem
            raise ParseError({field: message} if field else message)
        return data


class _Duplicated(dict):
    """A JSON object that gave `key` more than once (the last value kept): marked as parsed, reported after."""

    key: str


def _object_once(duplicated: list, pairs: list[tuple[str, object]]) -> dict:
    found = dict(pairs)
    if len(found) == len(pairs):
        return found
    seen: set[str] = set()
    marked = _Duplicated(found)
    marked.key = next(key for key, _ in pairs if key in seen or seen.add(key))
    duplicated.append(marked)
    return marked


def _duplicated_key(data) -> tuple[str, str] | None:
    """(path, message) for the first object, in document order, that gave a key twice; None when none did."""
    pending = [(data, "")]
    while pending:
        value, path = pending.pop()
        if isinstance(value, _Duplicated):
            field = f"{path}.{value.key}" if path else value.key
            return field, f"`{value.key}` is given twice in one object; send each key once."
        if isinstance(value, dict):
            children = [(item, f"{path}.{key}" if path else key) for key, item in value.items()]
        elif isinstance(value, list):
            children = [(item, f"{path}[{position}]") for position, item in enumerate(value)]
        else:
            continue
        pending.extend(reversed(children))
    return None


class OtlpParser(BaseParser):
    """Hand an OTLP export body over as bytes, with its Content-Encoding (gzip, deflate) undone.

    OTLP_MAX_BODY_BYTES bounds the body as sent and as decompressed: decompression stops one byte past the
    limit, so a gzip bomb costs at most that much memory before its 413. The service decodes the bytes.
    """

    READ_SIZE = 64 * 1024

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        limit = settings.OTLP_MAX_BODY_BYTES
        request = parser_context["request"]
        body = read_bounded(stream, request, limit)
        coding = request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower()
        if coding in ("", "identity"):
            return body
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise UnsupportedMediaType(
                media_type, detail=f"Content-Encoding {coding[:40]!r} is not supported; send gzip, deflate or none."
            )
        return self._decompressed(body, coding, limit)

    def _decompressed(self, body: bytes, coding: str, limit: int) -> bytes:
        gzip = "gzip" in coding
        parts, size, pending = [], 0, body
        try:
            while True:
                # wbits: 16 + MAX_WBITS reads one gzip member; MAX_WBITS the zlib stream HTTP calls "deflate".
                decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS)
                while not decompressor.eof and size <= limit:
                    part = decompressor.decompress(pending, min(self.READ_SIZE, limit + 1 - size))
                    pending = decompressor.unconsumed_tail
                    if not part and not pending:
                        break  # all input read, and it ends before its end of stream
                    parts.append(part)
                    size += len(part)
                if size > limit or not decompressor.eof:
                    break
                # A gzip body may be several members one after another (RFC 1952 2.2, as `cat a.gz b.gz` makes):
                # each is read, not only the first. Zero bytes after the last are padding, as Python's gzip takes.
                pending = decompressor.unused_data
                if not gzip or not pending.strip(b"\0"):
                    break
        except zlib.error as exc:
            raise ParseError(f"The body is not valid {coding} data: {exc}.") from None
        if size > limit:
            raise PayloadTooLarge(f"The body is over the limit of {limit} bytes once decompressed ({coding}).")
        if not decompressor.eof:
            raise ParseError(f"The {coding} data ends before its end of stream.")
        if pending.strip(b"\0"):
            raise ParseError(f"The {coding} data is followed by {len(pending)} bytes that are not part of it.")
        return b"".join(parts)


class OtlpProtobufParser(OtlpParser):
    media_type = "application/x-protobuf"


class OtlpJSONParser(OtlpParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        refuse_other_charset(media_type)
        return super().parse(stream, media_type, parser_context)
