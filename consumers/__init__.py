"""Kafka side of the service: run loop, codecs, checkpointing, topics, dead letters."""
