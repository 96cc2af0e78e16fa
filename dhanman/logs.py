"""Log lines stamped in TIME_ZONE, with its abbreviation: `2026-12-02 09:30:01.123 IST`.

The console shows every time in TIME_ZONE, so the logs do too, and say which zone it is: a line
can be matched with a job's timeline without converting. (gunicorn.conf.py and dhanman/procfile.py
put gunicorn's own lines and honcho's prefixes on the same clock.)
"""

import logging
from datetime import datetime
from zoneinfo import ZoneInfo


class ZonedFormatter(logging.Formatter):
    def __init__(self, *args, time_zone: str = "UTC", **kwargs):
        super().__init__(*args, **kwargs)
        self.zone = ZoneInfo(time_zone)

    def formatTime(self, record, datefmt=None):
        moment = datetime.fromtimestamp(record.created, self.zone)
        return f"{moment.strftime(datefmt or '%Y-%m-%d %H:%M:%S')}.{int(record.msecs):03d} {moment.tzname()}"
