"""Test support: real services (PostgreSQL, Kafka-protocol broker) and condition waiting."""
