"""The edge box's uplink: buffered AggregateWindows to the cloud broker, off-peak and capped.

`storelens sync run` (service.py) wires the buffer, the broker link, the off-peak schedule
(schedule.py), the bandwidth cap (ratelimit.py), the publisher and the live heartbeat (publisher.py).
"""
