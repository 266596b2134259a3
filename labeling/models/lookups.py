"""`field__any=[…]`: membership in a list bound as one array parameter on PostgreSQL.

`__in` writes a placeholder per value: for the 2,000 ids of a close's resolve chunk Django compiles 2,000 parameters
and psycopg splits the statement at each of them, on every execution (2-12 ms a statement; bench/README.md).
`= ANY(%s)` binds the list as one array, whatever its length, and uses the same indexes. Elsewhere (SQLite, the
demo) it is `__in`.
"""

from django.db.models import Field, ForeignObject, Lookup
from django.db.models.lookups import In


@ForeignObject.register_lookup  # a relation has lookups of its own: `item_id__any`, `item__any`
@Field.register_lookup
class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False  # a list, bound whole: `get_prep_value` takes one value

    def as_sql(self, compiler, connection):
        if connection.vendor != "postgresql":
            return In(self.lhs, list(self.rhs)).as_sql(compiler, connection)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", (*lhs_params, *rhs_params)

    def get_db_prep_lookup(self, value, connection):
        return "%s", [[self.lhs.output_field.get_prep_value(item) for item in value]]
