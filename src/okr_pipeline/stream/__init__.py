"""The event stream: one small event-log interface over an embedded log and Kafka."""
