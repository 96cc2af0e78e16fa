"""Development mail (EMAIL_URL's default, dhanman/mail.py): one log line per message, the full
text only at LOG_LEVEL=DEBUG — so `make run`'s demo mail does not bury its login banner."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def send_test_mail(tmp_path, log_level):
    env = {k: v for k, v in os.environ.items() if k not in ("EMAIL_URL", "DHANMAN_TEST_APPS")}
    env.update(
        LOG_LEVEL=log_level, DATABASE_URL=f"sqlite:///{tmp_path / 'mail.db'}", TIME_ZONE="Asia/Kolkata"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "sendtestemail", "resident@example.com"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return [line for line in (done.stdout + done.stderr).splitlines() if "django.db" not in line]


@pytest.mark.parametrize("log_level", ["INFO", "DEBUG"])
def test_a_message_is_one_log_line_and_its_text_shows_at_debug(tmp_path, log_level):
    lines = send_test_mail(tmp_path, log_level)
    summary = [line for line in lines if "INFO dhanman.mail" in line]
    assert len(summary) == 1, lines
    assert "to resident@example.com: Test email from" in summary[0]
    assert summary[0].split(" INFO ")[0].endswith(" IST")  # stamped in TIME_ZONE, labelled
    full_text = any(line.startswith("Content-Type: text/plain") for line in lines)
    assert full_text == (log_level == "DEBUG"), lines
