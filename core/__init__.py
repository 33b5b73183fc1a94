"""Foundation every layer may use: the request context and the Redis client factory."""
