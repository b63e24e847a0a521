"""The insertion log (docs/design.md, "The insertion log"): the insert trigger records what it inserts, per quarter
hour, blog and country, and marks its hours INSERTED; a request then adds those rows to the blocks folded before
them instead of reading their days raw. Existing markers become CHANGED (the column's default): nothing logged
them, so their hours read raw until the next fold, as before."""

from django.db import migrations, models

from analytics.triggers import insertion_log_install, insertion_log_uninstall, reinstall_sqlite, sqlite_triggers_drop


class Migration(migrations.Migration):

    dependencies = [
        ('analytics', '0016_hour_spans'),
    ]

    operations = [
        migrations.RunPython(sqlite_triggers_drop, reinstall_sqlite),
        migrations.AddField(
            model_name='viewchange',
            name='kind',
            field=models.CharField(
                choices=[
                    ('i', 'views inserted, each in the insertion log'),
                    ('c', 'views updated, deleted, or inserted unlogged: only the raw events say what changed'),
                ],
                db_default='c',
                max_length=1,
            ),
        ),
        migrations.CreateModel(
            name='ViewInsertion',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('bucket', models.DateTimeField(db_index=True, help_text='The quarter hour\'s first instant (UTC).')),
                ('blog_id', models.BigIntegerField()),
                ('country_key', models.IntegerField()),
                ('views', models.IntegerField()),
            ],
        ),
        migrations.RunPython(insertion_log_install, insertion_log_uninstall),
    ]
