"""The development mail backend (EMAIL_URL's default, `consolemail://`): one log line per message.

Django's console backend prints every message whole (headers, MIME parts), and `make run`'s demo
sends dozens of notification mails from the worker: they buried the login banner. Here each
message is one INFO line on the `dhanman.mail` logger (recipients and subject) and its full text
follows at DEBUG (`LOG_LEVEL=DEBUG`). Nothing leaves the machine.
"""

import logging

from django.core.mail.backends.base import BaseEmailBackend

logger = logging.getLogger("dhanman.mail")


class LoggingEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        for message in email_messages:
            logger.info(
                "Mail (not sent, development backend) to %s: %s",
                ", ".join(message.recipients()) or "nobody",
                message.subject,
            )
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "Full text of the mail to %s:\n%s",
                    ", ".join(message.recipients()),
                    message.message().as_string(),
                )
        return len(email_messages)
