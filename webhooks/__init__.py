"""Webhooks: signed (Standard Webhooks), durable (an outbox), retried, recorded and replayable event delivery."""
