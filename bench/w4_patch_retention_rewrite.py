"""The retention write as it was before issue 19's change, for `w4_close.py --compare`: every cell deleted and
inserted again by each refresh (16k rows at 104 weeks), instead of only the cells that changed."""

from labeling.models import RetentionCell
from labeling.services import retention


def _rewrite_every_cell(project, table: list[dict]) -> None:
    RetentionCell.objects.filter(project=project).delete()
    RetentionCell.objects.bulk_create([RetentionCell(project=project, **cell) for cell in table], batch_size=1000)


retention._store_changes = _rewrite_every_cell
