"""What `GET /api/v1/outputs` and `GET /api/v1/outputs/facets` return (selectors.explore's Page and Summary)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.outputs import OutputOut
from labeling.rules.explore import facet_filter


class OutputPageOut(serializers.Serializer):
    results = OutputOut(many=True, help_text="The outputs of this page, newest first (ties: last stored first).")
    next = serializers.URLField(allow_null=True, help_text="The next page, or null on the last one.")
    total = serializers.IntegerField(help_text="Outputs matching the filter (on every page).")
    total_estimated = serializers.BooleanField(
        help_text="True when `total` is PostgreSQL's estimate rather than a count: over 10,000 matches, or more "
        "than 50 ms to count."
    )


class FacetValueOut(serializers.Serializer):
    value = serializers.CharField(help_text="As stored (after `key:` in the filter when `key` is set).")
    label = serializers.CharField()
    count = serializers.IntegerField()
    filter = serializers.CharField(
        required=False,  # FacetOut writes it: it needs the facet's parameter and key
        help_text="The filter parameter's value that finds exactly these outputs: `parameter=<filter>`. It is "
        '`key:value` for `meta` and `gold`, with a value in double quotes (`" vip"`) when spaces at its ends are '
        "part of it: an unquoted value is read without them.",
    )


class FacetOut(serializers.Serializer):
    parameter = serializers.CharField(
        help_text="The filter parameter that narrows to a value: `model`, `tag`, `feedback`, `gold` or `meta`."
    )
    title = serializers.CharField()
    key = serializers.CharField(
        help_text="For `meta` the metadata key, for `gold` the question: filter with `parameter=key:value`."
    )
    values = FacetValueOut(many=True, help_text="The most frequent values, most frequent first.")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        for value in data["values"]:
            value["filter"] = facet_filter(instance.parameter, instance.key, value["value"])
        return data


class BinOut(serializers.Serializer):
    low = serializers.FloatField(help_text="Inclusive.")
    high = serializers.FloatField(help_text="Exclusive; the last bin also holds every value above it.")
    count = serializers.IntegerField()

    def to_representation(self, instance):
        low, high, count = instance
        return super().to_representation({"low": low, "high": high, "count": count})


class HistogramOut(serializers.Serializer):
    title = serializers.CharField(help_text="`Output length (characters)`, or a numeric metadata key.")
    bins = BinOut(many=True, help_text="Equal bins from the smallest value to the 99th percentile.")
    percentiles = serializers.DictField(child=serializers.FloatField(), help_text="`p50`, `p90` and `p99`.")


@extend_schema_field({"type": "boolean", "deprecated": True})
class DeprecatedBooleanField(serializers.BooleanField):
    """A flag still sent for the clients that read it, marked deprecated in the schema."""


class FacetsOut(serializers.Serializer):
    total = serializers.IntegerField(source="total.value", help_text="Outputs matching the filter.")
    total_estimated = serializers.BooleanField(
        source="total.estimated",
        help_text="True when `total` is PostgreSQL's estimate rather than a count, as in `GET /api/v1/outputs`: "
        "over 10,000 matches, or more than 50 ms to count. The counts are always the `sample`'s, as they are: when "
        "`total` is over `sample`, of the first `sample` matches in the `sort` order, not scaled to `total`.",
    )
    estimated = DeprecatedBooleanField(
        help_text="Deprecated: read `total_estimated` (the name `GET /api/v1/outputs` gives it). True when `total` "
        "is an estimate or more than `sample` outputs match (the counts are then the sample's, not every match's); on "
        "PostgreSQL the same as `total_estimated`. Still sent; to be removed in a later version of the API."
    )
    sample = serializers.IntegerField(
        help_text="How many matches the counts are of (at most 10,000): every match, or the first 10,000 in the "
        "`sort` order (the newest by default, the slowest with `sort=slowest`…)."
    )
    facets = FacetOut(many=True)
    histograms = HistogramOut(many=True)
