"""Alerts that reach people (issue 15): subscriptions, the transactional outbox, delivery, ack/escalation."""
