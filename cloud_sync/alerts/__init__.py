"""Alerts: device offline, sync overdue, camera problems and dead-letter bursts, sent as webhooks
(JSON POST) and/or e-mail, rate-limited, with a recovery message. `storelens cloud alerts run`.

- conditions.py  what is wrong now, from the database, by the dashboard's own rules
- state.py       what each destination was told (persisted: a restart never re-fires)
- channels.py    webhook and SMTP delivery
- service.py     the periodic evaluation and the decision what is due where
"""
