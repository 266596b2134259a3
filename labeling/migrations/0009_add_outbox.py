"""The transactional outbox: Celery tasks written with the change that asks for them, sent after commit
or by the sweep (labeling/services/README.md, "Outbox")."""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('labeling', '0008_record_close_failures_and_health'),
    ]

    operations = [
        migrations.CreateModel(
            name='OutboxMessage',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('task', models.CharField(max_length=200)),
                ('args', models.JSONField(blank=True, default=list)),
                ('kwargs', models.JSONField(blank=True, default=dict)),
                ('dedupe_key', models.CharField(blank=True, default='', max_length=200)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('published_at', models.DateTimeField(blank=True, null=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('last_error', models.TextField(blank=True, default='')),
            ],
            options={
                'indexes': [models.Index(condition=models.Q(('published_at__isnull', True)), fields=['id'], name='outbox_pending'), models.Index(condition=models.Q(('finished_at__isnull', True)), fields=['dedupe_key'], name='outbox_outstanding_by_key', opclasses=['varchar_pattern_ops']), models.Index(fields=['published_at'], name='outbox_published_at')],
                'constraints': [models.UniqueConstraint(condition=models.Q(('published_at__isnull', True), models.Q(('dedupe_key', ''), _negated=True)), fields=('dedupe_key',), name='outbox_one_pending_per_key')],
            },
        ),
    ]
