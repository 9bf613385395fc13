"""Alerts that reach people: subscriptions, the transactional outbox, delivery, ack/escalation."""
