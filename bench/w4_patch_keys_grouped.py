"""Try (`w4_close.py --compare w4_patch_keys_grouped`): the dataset build's key cursor as it was before 2026-12-05,
the project's labels grouped once and joined to the items, instead of one LATERAL probe of the label index per item;
the row fingerprint computed at import stays the same, so both builds copy the same rows. Paired, on analyzed data."""

from labeling.models import Item, Label, Output, Resolution
from labeling.services.datasets import rows

_GROUPED = """
SELECT i.id, o.external_id,
       lpad(to_hex(hash_record_extended(ROW(i.id, i.output_id, o.redaction_version, o.feedback_at, r.updated_at), 0)),
            16, '0') || lpad(to_hex(coalesce(l.labels, 0)), 16, '0')
  FROM ({items}) AS i (id, output_id)
  JOIN {output} o ON o.id = i.output_id
  LEFT JOIN {resolution} r ON r.item_id = i.id
  LEFT JOIN (
      SELECT item_id, count(*) AS n,
             bit_xor(hash_record_extended(ROW(id, expert_id, rubric_id, updated_at), 0)) AS labels
        FROM {label} WHERE item_id IN (SELECT id FROM {item} WHERE project_id = %s)
       GROUP BY item_id
  ) l ON l.item_id = i.id
 ORDER BY o.external_id, coalesce(l.n, 0) DESC, i.id
"""


def _keys_grouped(dataset):
    items, params = rows._selected_items(dataset).order_by().values("pk", "output_id").query.sql_with_params()
    tables = {model.__name__.lower(): model._meta.db_table for model in (Item, Label, Output, Resolution)}
    with rows.connection.cursor() as cursor:
        cursor.execute(_GROUPED.format(items=items, **tables), [*params, dataset.project_id])
        while chunk := cursor.fetchmany(rows.ROW_CHUNK * 5):
            yield from chunk


rows._keys_postgresql = _keys_grouped
