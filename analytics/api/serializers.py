"""Output serializers of the analytics endpoints, and the error shape, as the OpenAPI schema shows them."""

from __future__ import annotations

from rest_framework import serializers


class CountRowSerializer(serializers.Serializer):
    """A grouped row: ``x`` names the group, ``y`` and ``z`` are counts (SPEC §5)."""

    x = serializers.CharField(allow_blank=True, help_text="Country code, username or blog title (which may be empty).")
    y = serializers.IntegerField(help_text="blog-views: distinct blogs; top: views.")
    z = serializers.IntegerField(help_text="blog-views: views; top/blog: distinct countries; top/user|country: blogs.")


class PreviousCountSerializer(serializers.Serializer):
    y = serializers.IntegerField()
    z = serializers.IntegerField()


class ComparedCountRowSerializer(CountRowSerializer):
    """Under ``compare_to``: the same group's numbers over the shifted window, null when it had no view there."""

    previous = PreviousCountSerializer(allow_null=True, required=False)


class PerformanceRowSerializer(serializers.Serializer):
    x = serializers.CharField(help_text='"YYYY-MM-DD (N blogs)": the period\'s first day and its blog count.')
    y = serializers.IntegerField(help_text="Views in the period (inside the window).")
    z = serializers.FloatField(allow_null=True, help_text="Growth in % vs the previous period; null when it had 0.")


class ComparedPerformanceRowSerializer(PerformanceRowSerializer):
    """Under ``compare_to``: row *i* of the shifted window's answer, null when that answer has fewer rows."""

    previous = PerformanceRowSerializer(allow_null=True, required=False)


class TotalsFieldsSerializer(serializers.Serializer):
    views = serializers.IntegerField(help_text="Matching views.")
    blogs = serializers.IntegerField(help_text="Distinct blogs among them.")
    authors = serializers.IntegerField(help_text="Distinct authors of those blogs.")
    countries = serializers.IntegerField(help_text="Distinct countries among them (views with none left out).")


class TotalsSerializer(TotalsFieldsSerializer):
    previous = TotalsFieldsSerializer(required=False, help_text="Only under compare_to: the shifted window's totals.")


class ErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    code = serializers.CharField()
    fields = serializers.DictField(  # type: ignore[assignment]  # the SPEC §6 key; DRF pops declared fields
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Offending paths in the request body, e.g. filters.and[1].eq.field.",
    )


class ReplicaHealthSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The replica's alias: replica1 for the first of DATABASE_REPLICA_URLS, …")
    state = serializers.ChoiceField(choices=["ok", "unreachable", "not-a-replica"])
    versions_behind = serializers.IntegerField(
        allow_null=True, help_text="Writes committed on the primary that it has not applied yet."
    )
    lag_bytes = serializers.IntegerField(allow_null=True, help_text="WAL bytes it has not replayed yet.")
    replay_age_seconds = serializers.FloatField(
        allow_null=True, help_text="Since the last transaction it applied committed (grows while the primary is idle)."
    )


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded"])
    database = serializers.ChoiceField(choices=["ok"])
    cache = serializers.ChoiceField(choices=["ok", "unreachable"])
    replicas = ReplicaHealthSerializer(
        many=True, required=False, help_text="Only with DATABASE_REPLICA_URLS: each read replica's state and lag."
    )
