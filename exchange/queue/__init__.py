"""The submission queue port and its adapters (SQLite embedded, RabbitMQ at scale)."""

from exchange.queue.port import DeadLetter, Delivery, SubmissionQueue

__all__ = ["DeadLetter", "Delivery", "SubmissionQueue"]
