"""The OTLP answers, for the OpenAPI schema (the view encodes them as protobuf or OTLP/JSON itself)."""

from rest_framework import serializers


class PartialSuccessOut(serializers.Serializer):
    rejectedSpans = serializers.IntegerField(help_text="LLM spans that could not be stored.")
    errorMessage = serializers.CharField(help_text="Why, for the first few, with their span ids.")


# Field names as OTLP/JSON writes them (lowerCamelCase).
class TracesResponseOut(serializers.Serializer):
    partialSuccess = PartialSuccessOut(required=False, help_text="Set only when spans were rejected.")


class OtlpStatusOut(serializers.Serializer):
    code = serializers.IntegerField(help_text="A google.rpc.Code (3 invalid argument, 16 unauthenticated, …).")
    message = serializers.CharField(help_text="What is wrong.")
