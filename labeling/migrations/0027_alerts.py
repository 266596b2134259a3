# Alerts (issue 18): the Alert model and the alert.opened / alert.resolved webhook events.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('labeling', '0026_project_week'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='webhookdelivery',
            name='event',
            field=models.CharField(choices=[('output.flagged', 'An expert flags an item'), ('item.needs_adjudication', "An item needs a lead's decision"), ('dataset.version_ready', 'A dataset version is ready'), ('cycle.closed', 'A week is closed'), ('cycle.digest', 'The weekly digest'), ('alert.opened', 'An alert is opened'), ('alert.resolved', 'An alert is resolved')], max_length=64),
        ),
        migrations.CreateModel(
            name='Alert',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('rule', models.CharField(choices=[('close_failed', "The week's close failed"), ('close_overdue', "The week's close is overdue"), ('queue_idle', 'A queue with work waiting gets no labels'), ('quota_missed', 'A queue missed its weekly quota'), ('ingest_stopped', 'No outputs arrive'), ('thumbs_down_rise', 'The thumbs-down share rose')], max_length=32)),
                ('key', models.CharField(blank=True, default='', max_length=200)),
                ('state', models.CharField(choices=[('open', 'Open'), ('acknowledged', 'Acknowledged'), ('resolved', 'Resolved')], default='open', max_length=16)),
                ('title', models.CharField(max_length=300)),
                ('detail', models.TextField(blank=True, default='')),
                ('facts', models.JSONField(blank=True, default=dict)),
                ('opened_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('last_seen_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('acknowledged_at', models.DateTimeField(blank=True, null=True)),
                ('resolved_at', models.DateTimeField(blank=True, null=True)),
                ('acknowledged_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='alerts', to='labeling.project')),
            ],
            options={
                'ordering': ['-opened_at', '-pk'],
                'indexes': [models.Index(fields=['project', '-opened_at'], name='alert_project_recent')],
                'constraints': [models.UniqueConstraint(condition=models.Q(('state', 'resolved'), _negated=True), fields=('project', 'rule', 'key'), name='alert_one_unresolved'), models.CheckConstraint(condition=models.Q(models.Q(('resolved_at__isnull', False), ('state', 'resolved')), models.Q(('state', 'resolved'), _negated=True), _connector='OR'), name='alert_resolved_has_time')],
            },
        ),
    ]
