from api.serializers.datasets import format_field
from api.serializers.metrics import MetricsQuery
from labeling.services.label_exports import FORMATS


class LabelsQuery(MetricsQuery):
    """`from`, `to` (a week label or a day, as the metrics read them), `project` for a session, the `format`."""

    def extra_fields(self) -> dict:
        return {"format": format_field(FORMATS)}
