"""Fan-out between hub processes: one small interface, an in-process and a Redis backend."""

from hub.broker.base import AvailabilityHandler, Broker, BrokerUnavailable, Handler

__all__ = ["AvailabilityHandler", "Broker", "BrokerUnavailable", "Handler", "create_broker"]


def create_broker(redis_url: str | None, prefix: str) -> Broker:
    """The Redis broker when a URL is configured, otherwise the in-process one."""
    if redis_url:
        from hub.broker.redis import RedisBroker

        return RedisBroker(redis_url, prefix)
    from hub.broker.memory import MemoryBroker

    return MemoryBroker()
