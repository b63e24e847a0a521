"""Database triggers that notice every write to the analytics tables, whichever way it is made (SPEC §4).

* Any insert, update or delete of ``analytics_blogview`` records the UTC hours it touched in
  ``analytics_viewchange``: the fold re-reads those days, and until it has, queries read them raw.
* Any write that can change an answer (views, blogs, countries, usernames) bumps ``analytics_dataversion``,
  the version the response cache keys on. The bump is part of the writing transaction, so a reader never sees
  a new version before the data it stands for.

PostgreSQL uses statement-level triggers with transition tables (one insert per statement and hour, cheap
for COPY and bulk_create); SQLite has only row-level triggers.
"""

from django.db import migrations

from analytics.triggers import install, uninstall


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
