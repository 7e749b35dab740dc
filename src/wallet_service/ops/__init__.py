"""Operations: health, readiness, metrics, rate limiting."""
