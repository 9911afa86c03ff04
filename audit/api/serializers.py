"""Wire shapes of the audit trail and the request log (read-only)."""

from __future__ import annotations

from rest_framework import serializers

from audit.models import AUDIT_SUMMARY_FIELDS, AuditLog, RequestLog


class AuditLogSerializer(serializers.ModelSerializer):
    """One audit row: who did what to which object, with the changed fields (secrets masked)."""

    class Meta:
        model = AuditLog
        fields = [
            "id",
            *AUDIT_SUMMARY_FIELDS,
            "before",
            "after",
            "extra",
            "ip",
            "request_id",
        ]
        read_only_fields = fields


class RequestLogSerializer(serializers.ModelSerializer):
    """One proxied call."""

    class Meta:
        model = RequestLog
        fields = [
            "id",
            "time",
            "project_uuid",
            "gateway",
            "endpoint",
            "method",
            "path",
            "token_prefix",
            "status",
            "latency_ms",
            "upstream_ms",
            "bytes_in",
            "bytes_out",
            "provider",
            "model",
            "tokens_in",
            "tokens_out",
            "cost",
            "guardrails",
            "attempts",
            "error_code",
            "request_id",
        ]
        read_only_fields = fields
