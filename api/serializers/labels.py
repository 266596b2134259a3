from api.serializers.datasets import format_field
from api.serializers.metrics import MetricsQuery
from labeling.services.label_exports import FORMATS


class LabelsQuery(MetricsQuery):
    """`from`, `to` (ISO weeks, as the metrics take them), `project` for a session, and the file's `format`."""

    def extra_fields(self) -> dict:
        return {"format": format_field(FORMATS)}
