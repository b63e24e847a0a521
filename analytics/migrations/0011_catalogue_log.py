# The catalogue log (analytics.triggers.CATALOGUE_LOG_UP, PostgreSQL only): the blogs each transaction changed, by
# transaction id, so a process follows catalogue changes by reading only those blogs. Nothing on SQLite.

from django.db import migrations

from analytics.triggers import catalogue_log_install, catalogue_log_uninstall


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0010_blog_timelines"),
    ]

    operations = [
        migrations.RunPython(catalogue_log_install, catalogue_log_uninstall),
    ]
