"""Events: the transactional outbox and its feed, and the handlers of consumed events."""
