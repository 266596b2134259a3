from rest_framework import serializers

from labeling.models import Scope


class KeyOut(serializers.Serializer):
    """The API key a request was made with, and its project."""

    project = serializers.CharField(source="project.slug", help_text="The project's slug, as in project URLs.")
    project_name = serializers.CharField(source="project.name")
    name = serializers.CharField(help_text="The key's name, given when it was issued.")
    prefix = serializers.CharField(help_text="The public part of the key (`el_<prefix>_…`).")
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices))
