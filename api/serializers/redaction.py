from rest_framework import serializers


class CustomRuleOut(serializers.Serializer):
    name = serializers.CharField(help_text="Matches are replaced by [CUSTOM:name].")
    pattern = serializers.CharField(help_text="A Python regular expression.")


class RedactionRulesOut(serializers.Serializer):
    version = serializers.IntegerField(
        allow_null=True, help_text="The version in force; each output records the version that redacted it."
    )
    builtins = serializers.ListField(child=serializers.CharField(), help_text="Of email, phone, card, iban.")
    phone_region = serializers.CharField(allow_null=True, help_text="Region assumed for numbers written without +.")
    custom = CustomRuleOut(many=True)
    created_at = serializers.DateTimeField(allow_null=True)
