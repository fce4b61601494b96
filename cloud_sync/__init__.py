"""Edge-to-cloud sync: wire schema, off-peak publisher, broker config and cloud ingest.

Operating notes (each one is covered by a test in tests/integration):
- A window leaves the edge buffer only after its PUBACK (MQTT 5, so an ACL refusal is a failing
  reason code, not a silent drop). The cloud stores each (device_id, camera_id, window_start) once.
- Ingest workers share `$share/<group>/storelens/v1/+/+/#` with persistent sessions. Mosquitto
  forgets shared subscriptions when it restarts and acknowledges publishes nobody receives, so
  workers ping `storelens/cloud/ingest/alive` and devices drain only while they hear it
  (`sync.wait_for_ingest_s`). A fleet's ingest must have connected once before devices publish.
- Mosquitto keeps giving a stopped worker's persistent session its share of messages: scale
  down with `storelens cloud ingest --worker NAME --retire`, never by just stopping a worker.
- Device credentials live hashed in the database and in the broker's password file; after
  `cloud device add|rotate|revoke` the running broker is reloaded (SIGHUP via its pid file).
"""
