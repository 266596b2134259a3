"""An expert's labeling history made in bulk: one statement, no ORM objects, for tests and benchmarks of size."""

from django.db import connection
from django.utils import timezone

from labeling.models import Item, ItemStatus, Output, Queue, Slot, SlotState


def add_history(*, queue: Queue, expert, count: int) -> None:
    """Give the expert `count` more done slots in the queue, each on an item of its own (a new output, a
    complete item, the expert's one slot), by INSERT … SELECT generate_series: 50,000 take about a second.
    The queue needs one item already; its output and row are the templates of the new ones."""
    if count <= 0:
        return
    template = Item.objects.filter(queue=queue).values("pk", "output_id").order_by("pk").first()
    start = Output.objects.filter(project_id=queue.project_id).count()  # external ids stay unique
    output_columns = [f.column for f in Output._meta.concrete_fields if not f.primary_key]
    item_columns = [f.column for f in Item._meta.concrete_fields if not f.primary_key]
    made_output = {"external_id": f"'history-{expert.pk}-' || g"}
    made_item = {"output_id": "made.id", "status": "%(complete)s", "completed_at": "%(now)s"}
    sql = f"""
        WITH made AS (
            INSERT INTO {Output._meta.db_table} ({", ".join(output_columns)})
            SELECT {", ".join(made_output.get(c, f"t.{c}") for c in output_columns)}
              FROM {Output._meta.db_table} t, generate_series(%(start)s, %(stop)s) g
             WHERE t.id = %(output)s
            RETURNING id
        ), items AS (
            INSERT INTO {Item._meta.db_table} ({", ".join(item_columns)})
            SELECT {", ".join(made_item.get(c, f"t.{c}") for c in item_columns)}
              FROM made, {Item._meta.db_table} t
             WHERE t.id = %(item)s
            RETURNING id, queue_id, priority
        )
        INSERT INTO {Slot._meta.db_table} (item_id, queue_id, priority, number, state, expert_id, leased_at)
        SELECT id, queue_id, priority, 1, %(done)s, %(expert)s, %(now)s FROM items
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "start": start,
                "stop": start + count - 1,
                "output": template["output_id"],
                "item": template["pk"],
                "complete": ItemStatus.COMPLETE.value,
                "done": SlotState.DONE.value,
                "expert": expert.pk,
                "now": timezone.now(),
            },
        )
