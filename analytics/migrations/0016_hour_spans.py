"""Hour blocks of 2, 4 and 8 hours beside the single hours (docs/design.md, "Hour blocks"): a recent day changed
since its fold reads its unchanged hours from a few long blocks rather than one block per hour. Existing rows are
single hours; the next fold writes the longer ones."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('analytics', '0015_partitioned_views'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='hourlyanalyticssummary',
            name='hourly_summary_unique',
        ),
        migrations.AddField(
            model_name='hourlyanalyticssummary',
            name='hours',
            field=models.PositiveSmallIntegerField(default=1, help_text='How many hours the block spans: 1, 2, 4 or 8.'),
        ),
        migrations.AlterField(
            model_name='hourlyanalyticssummary',
            name='start',
            field=models.DateTimeField(help_text="The first hour's first instant (UTC, on the hour)."),
        ),
        migrations.AddConstraint(
            model_name='hourlyanalyticssummary',
            constraint=models.UniqueConstraint(fields=('start', 'hours', 'country_key'), name='hourly_summary_span_unique'),
        ),
    ]
