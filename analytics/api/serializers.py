"""Output serializers of the analytics endpoints, and the error shape, as the OpenAPI schema shows them."""

from __future__ import annotations

from rest_framework import serializers


class CountRowSerializer(serializers.Serializer):
    """A grouped row: ``x`` names the group, ``y`` and ``z`` are counts (SPEC §5)."""

    x = serializers.CharField(allow_blank=True, help_text="Country code, username or blog title (which may be empty).")
    y = serializers.IntegerField(help_text="blog-views: distinct blogs; top: views.")
    z = serializers.IntegerField(help_text="blog-views: views; top/blog: distinct countries; top/user|country: blogs.")


class PerformanceRowSerializer(serializers.Serializer):
    x = serializers.CharField(help_text='"YYYY-MM-DD (N blogs)": the period\'s first day and its blog count.')
    y = serializers.IntegerField(help_text="Views in the period (inside the window).")
    z = serializers.FloatField(allow_null=True, help_text="Growth in % vs the previous period; null when it had 0.")


class ErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    code = serializers.CharField()
    fields = serializers.DictField(  # type: ignore[assignment]  # the SPEC §6 key; DRF pops declared fields
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Offending paths in the request body, e.g. filters.and[1].eq.field.",
    )


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded"])
    database = serializers.ChoiceField(choices=["ok"])
    cache = serializers.ChoiceField(choices=["ok", "unreachable"])
