"""Real servers (redis-server, mosquitto, PostgreSQL) as child processes on loopback, for tests, benchmarks and the demo."""
