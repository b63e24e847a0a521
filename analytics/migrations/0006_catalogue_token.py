# The catalogue token (analytics.triggers.CATALOGUE_ROW): DataVersion row 2, renewed by the blog, country and
# username triggers, under which the fast path caches the catalogue.

from django.db import migrations

from analytics.triggers import catalogue_token_install, catalogue_token_uninstall


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0005_summary_country_matrix"),
    ]

    operations = [
        migrations.RunPython(catalogue_token_install, catalogue_token_uninstall),
    ]
