"""OTLP's two encodings and its error message, shared by the traces view and the middleware that answers before it.

OTLP answers in the request's encoding, binary protobuf or OTLP/JSON, and every error is a google.rpc.Status.
Some errors are answered outside the view (a chunked body over the limit, a database outage): they use the same
helpers, so that an exporter never reads this API's own `{"errors": [...]}`.
"""

import json

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

OTLP_PATH_PREFIX = "/api/v1/otel/"
PROTOBUF_TYPE, JSON_TYPE = "application/x-protobuf", "application/json"
# google.rpc.Status codes (the specification lets clients ignore them; they help whoever reads a log).
_RPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 413: 8, 415: 3, 429: 8, 503: 14}


def _status_class():
    """google.rpc.Status, built here: its usual package (googleapis-common-protos) is not a dependency.

    A private pool, so that it cannot clash with that package's copy where both are loaded."""
    proto = descriptor_pb2.FileDescriptorProto(name="expertloop/google_rpc_status.proto", package="google.rpc")
    proto.syntax = "proto3"
    status = proto.message_type.add(name="Status")
    status.field.add(name="code", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_INT32, json_name="code")
    status.field.add(
        name="message", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING, json_name="message"
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("google.rpc.Status"))


Status = _status_class()


def media_type_of(content_type: str | None) -> str:
    """The media type of a Content-Type header, without parameters, lower case."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def encode(message, media_type: str) -> tuple[bytes, str]:
    """The protobuf message as (body, Content-Type): binary for a protobuf request, else OTLP/JSON."""
    if media_type == PROTOBUF_TYPE:
        return message.SerializeToString(), PROTOBUF_TYPE
    return json.dumps(json_format.MessageToDict(message), ensure_ascii=False).encode(), JSON_TYPE


def status_body(http_status: int, message: str, media_type: str) -> tuple[bytes, str]:
    """A google.rpc.Status for the HTTP status, as (body, Content-Type) in the request's encoding."""
    printable = message.encode("utf-8", "backslashreplace").decode()  # a lone surrogate from hostile input
    return encode(Status(code=_RPC_CODES.get(http_status, 2), message=printable), media_type)
