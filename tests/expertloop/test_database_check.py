"""`migrate` and `check --database` ask PostgreSQL for the ICU collation a queue rule's text condition needs."""

import pytest
from django.core import checks
from django.db import connection

from labeling.checks import missing_collations


@pytest.mark.django_db
def test_this_postgresql_has_every_collation_the_sql_needs_so_the_database_check_passes():
    assert missing_collations(connection) == []
    assert [m.id for m in checks.run_checks(tags=[checks.Tags.database], databases=["default"])] == []


@pytest.mark.django_db
def test_a_collation_the_server_lacks_is_named():
    assert missing_collations(connection, ("und-x-icu", "xx-no-such-collation")) == ["xx-no-such-collation"]
