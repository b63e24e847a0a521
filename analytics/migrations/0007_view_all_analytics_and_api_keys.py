# SPEC §9: the permission analytics.view_all_analytics, and API keys with a fixed scope (analytics.ScopedAPIKey).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('analytics', '0006_catalogue_token'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='blogview',
            options={'permissions': [('view_all_analytics', "Can see the analytics of every author's blogs")]},
        ),
        migrations.CreateModel(
            name='ScopedAPIKey',
            fields=[
                ('id', models.CharField(editable=False, max_length=150, primary_key=True, serialize=False, unique=True)),
                ('prefix', models.CharField(editable=False, max_length=8, unique=True)),
                ('hashed_key', models.CharField(editable=False, max_length=150)),
                ('created', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('revoked', models.BooleanField(blank=True, default=False, help_text='If the API key is revoked, clients cannot use it anymore. (This cannot be undone.)')),
                ('expiry_date', models.DateTimeField(blank=True, help_text='Once API key expires, clients cannot use it anymore.', null=True, verbose_name='Expires')),
                ('name', models.CharField(help_text='Names the key for revoke_api_key; unique among live keys.', max_length=50)),
                ('can_ingest', models.BooleanField(default=False, help_text="May record views (of its author's blogs only).")),
                ('last_used_at', models.DateTimeField(blank=True, help_text='Last accepted request, to the minute.', null=True)),
                ('author', models.ForeignKey(blank=True, help_text='The author whose blogs this key sees; empty = every blog.', null=True, on_delete=django.db.models.deletion.CASCADE, related_name='api_keys', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'API key',
                'verbose_name_plural': 'API keys',
                'ordering': ('-created',),
                'abstract': False,
                'constraints': [models.UniqueConstraint(condition=models.Q(('revoked', False)), fields=('name',), name='api_key_active_name_unique')],
            },
        ),
    ]
