"""The event stream: one event-log interface over an embedded log and Kafka; publishing,
simulated live activity, the consumer that stores each batch exactly once in effect, the
retention that prunes the log and the stream's bookkeeping, and a topic's status."""

from okr_pipeline.stream.backends import open_event_log, warehouse_group_lag
from okr_pipeline.stream.consumer import ConsumeSummary, LiveScores, consume
from okr_pipeline.stream.log import EventLog, GroupBusyError, Message
from okr_pipeline.stream.producer import Published, events_from_path, publish
from okr_pipeline.stream.read_ahead import ReadAhead
from okr_pipeline.stream.redelivery import (
    DEAD_LETTER_REASONS,
    Redelivery,
    dead_letters_after,
    retry_dead_letters,
)
from okr_pipeline.stream.retention import Pruned, prune
from okr_pipeline.stream.simulator import OpenKeyResult, live_events
from okr_pipeline.stream.status import topic_status
from okr_pipeline.stream.verdicts import Verdict, judge_events

__all__ = [
    "DEAD_LETTER_REASONS",
    "ConsumeSummary",
    "EventLog",
    "GroupBusyError",
    "LiveScores",
    "Message",
    "OpenKeyResult",
    "Pruned",
    "Published",
    "ReadAhead",
    "Redelivery",
    "Verdict",
    "consume",
    "dead_letters_after",
    "events_from_path",
    "judge_events",
    "live_events",
    "open_event_log",
    "prune",
    "publish",
    "retry_dead_letters",
    "topic_status",
    "warehouse_group_lag",
]
