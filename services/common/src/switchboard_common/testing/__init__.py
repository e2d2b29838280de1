"""Pytest plugins for tests that need real infrastructure (PostgreSQL, the Kafka broker)."""
