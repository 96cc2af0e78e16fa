"""`manage.py import_schedules`: crontab, Quartz.NET and Task Scheduler files through a mapping."""

import io
import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command

from jobs.importing import crontab, quartz, schtasks
from jobs.importing.mapping import MappingError, load_mapping
from jobs.importing.quartz import Inexpressible, to_cron
from jobs.models import Job, RecurringJob, State

pytestmark = pytest.mark.django_db

MAPPING = """
[[map]]
match = "/usr/local/bin/send-payment-reminders"
task = "sales.tasks.send_payment_reminders"
id = "send-payment-reminders"

[[map]]
match = "/usr/local/bin/check-overdue-invoices"
task = "sales.tasks.check_overdue_invoices"

[[map]]
match = "/opt/dhanman/bin/grn-matching.sh"
task = "purchase.tasks.check_grn_matching"

[[map]]
match = "/usr/local/bin/calculate-late-fees"
task = "sales.tasks.calculate_late_fees"

[[map]]
match = "DEFAULT.PaymentReminders"
task = "sales.tasks.send_payment_reminders"

[[map]]
match = "Payroll.MonthEndSalaries"
task = "payroll.tasks.process_monthly_salaries"

[[map]]
match = "InvoiceReminderJob"
task = "sales.tasks.send_invoice_reminder"
args = [42]

[[map]]
match = "\\\\Dhanman\\\\StockReport"
task = "inventory.tasks.generate_stock_report"

[[map]]
match = "C:\\\\Dhanman\\\\visitor-passes.exe"
task = "community.tasks.expire_visitor_passes"
"""

CRONTAB = r"""# Dhanman legacy crontab
SHELL=/bin/bash
MAILTO = "ops@dhanman.example"
CRON_TZ=Asia/Kolkata
0 10 * * * /usr/local/bin/send-payment-reminders --all >> /var/log/reminders.log 2>&1
0 * * * * /usr/local/bin/check-overdue-invoices
30 9 * JAN-MAR,OCT MON-FRI /opt/dhanman/bin/grn-matching.sh \
    --verbose
CRON_TZ=Europe/London
@daily /usr/local/bin/calculate-late-fees
*/15 8-18/2 1,15 * * /usr/local/bin/not-mapped
@reboot /usr/local/bin/check-overdue-invoices
"""


def run(*args):
    out = io.StringIO()
    call_command("import_schedules", *map(str, args), stdout=out)
    return out.getvalue()


def run_failing(*args):
    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("import_schedules", *map(str, args), stdout=out)
    return out.getvalue(), str(caught.value)


@pytest.fixture
def mapping(tmp_path):
    path = tmp_path / "map.toml"
    path.write_text(MAPPING)
    return path


@pytest.fixture
def write(tmp_path):
    def write(name, text):
        path = tmp_path / name
        path.write_bytes(text.encode("utf-16") if name.endswith("-utf16.xml") else text.encode())
        return path

    return write


# --- crontab ---------------------------------------------------------------------------------


def test_crontab_parsing():
    found = crontab.parse(CRONTAB)
    assert [(f.cron, f.timezone, f.keys[-1]) for f in found if f.cron] == [
        ("0 10 * * *", "Asia/Kolkata", "/usr/local/bin/send-payment-reminders"),
        ("0 * * * *", "Asia/Kolkata", "/usr/local/bin/check-overdue-invoices"),
        ("30 9 * JAN-MAR,OCT MON-FRI", "Asia/Kolkata", "/opt/dhanman/bin/grn-matching.sh"),
        ("0 0 * * *", "Europe/London", "/usr/local/bin/calculate-late-fees"),
        ("*/15 8-18/2 1,15 * *", "Europe/London", "/usr/local/bin/not-mapped"),
    ]
    assert found[2].keys[0] == "/opt/dhanman/bin/grn-matching.sh --verbose"  # the continuation line joined
    assert found[2].source.startswith("line 7: ")
    assert "@reboot" in found[-1].source and "refused" in found[-1].skip


def test_crontab_import_then_again_changes_nothing(write, mapping):
    source = write("crontab", CRONTAB)
    out = run(source, "--format", "crontab", "--map", mapping)
    rows = {r.id: r for r in RecurringJob.objects.all()}
    assert set(rows) == {
        "send-payment-reminders",
        "check-overdue-invoices",
        "grn-matching",
        "calculate-late-fees",
    }
    assert (rows["grn-matching"].cron, rows["grn-matching"].timezone) == (
        "30 9 * JAN-MAR,OCT MON-FRI",
        "Asia/Kolkata",
    )
    assert rows["calculate-late-fees"].timezone == "Europe/London"
    assert "unmapped" in out and "/usr/local/bin/not-mapped" in out
    assert "@reboot runs when a machine starts" in out
    updated = {r.id: r.updated_at for r in RecurringJob.objects.all()}
    report = json.loads(run(source, "--format", "crontab", "--map", mapping, "--json"))
    assert report["summary"]["unchanged"] == 4 and report["summary"]["create"] == 0
    assert {r.id: r.updated_at for r in RecurringJob.objects.all()} == updated


def test_dry_run_shows_next_three_fire_times_in_the_zone(write, mapping):
    out = run(
        write("crontab", "CRON_TZ=Asia/Kolkata\n0 10 * * * /usr/local/bin/send-payment-reminders\n"),
        "--format",
        "crontab",
        "--map",
        mapping,
        "--dry-run",
        "--json",
    )
    entry = json.loads(out)["entries"][0]
    runs = [datetime.fromisoformat(r) for r in entry["next_runs"]]
    assert len(runs) == 3 and all(r.utcoffset() == timedelta(hours=5, minutes=30) for r in runs)
    assert [r.hour for r in runs] == [10, 10, 10]
    assert (entry["id"], entry["task"], entry["status"]) == (
        "send-payment-reminders",
        "sales.tasks.send_payment_reminders",
        "create",
    )
    assert RecurringJob.objects.count() == 0


def test_without_a_zone_the_timezone_option_applies(write, mapping):
    run(
        write("crontab", "0 * * * * /usr/local/bin/check-overdue-invoices\n"),
        "--format",
        "crontab",
        "--map",
        mapping,
        "--timezone",
        "Eastern Standard Time",
    )
    assert RecurringJob.objects.get().timezone == "America/New_York"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0 10 * * /usr/local/bin/check-overdue-invoices", "malformed crontab line"),
        ("61 * * * * /usr/local/bin/check-overdue-invoices", "Invalid cron expression"),
        ("0 0 31 2 * /usr/local/bin/check-overdue-invoices", "never fires"),
        ("0 0 30 2 * /usr/local/bin/not-even-mapped", "never fires"),
        ("CRON_TZ=Asia/Bangalore", "Unknown time zone 'Asia/Bangalore'"),
        ("@fortnightly /usr/local/bin/check-overdue-invoices", "unknown keyword @fortnightly"),
    ],
)
def test_bad_crontab_lines_write_nothing(write, mapping, line, message):
    source = write("crontab", f"0 10 * * * /usr/local/bin/send-payment-reminders\n{line}\n")
    out, error = run_failing(source, "--format", "crontab", "--map", mapping)
    assert message in out
    assert "line 2" in out and "nothing was written" in error
    assert RecurringJob.objects.count() == 0


def test_an_unknown_timezone_option(write, mapping):
    _, error = run_failing(write("crontab", ""), "--format", "crontab", "--timezone", "Mumbai")
    assert "Unknown time zone 'Mumbai'" in error


def test_a_mapping_file_with_problems_is_refused_whole(tmp_path):
    path = tmp_path / "map.toml"
    path.write_text(
        '[[map]]\nmatch = "a"\ntask = "os.system"\n[[map]]\nmatch = "b"\ntask = "sales.tasks.send_payment_reminders"\n'
        'args = "x"\n[[map]]\nmatch = "a"\ntask = "sales.tasks.send_payment_reminders"\nid = "Not a slug!"\n'
    )
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    text = str(caught.value)
    assert "3 problem(s)" in text and "'os.system' is not a registered task" in text
    assert "'args' must be an array" in text and "the same match as [[map]] #1" in text
    path.write_text("[[map]\nmatch=")
    with pytest.raises(MappingError, match="not valid TOML"):
        load_mapping(path)


# --- Quartz.NET ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quartz_expression", "expected"),
    [
        ("0 0 10 * * ?", "0 10 * * *"),
        ("0 0/15 8-18 ? * MON-FRI", "0-59/15 8-18 * * 1-5"),
        ("0 30 6 ? * 2", "30 6 * * 1"),  # Quartz's 2 is Monday
        ("0 0 9 ? * 1,7", "0 9 * * 0,6"),  # Sunday and Saturday
        ("0 0 23 L * ?", "0 23 L * *"),
        ("0 0 18 LW * ?", "0 18 LW * *"),
        ("0 0 9 ? * 6#3", "0 9 * * 5#3"),  # third Friday
        ("0 0 9 ? * 6L", "0 9 * * 5L"),  # last Friday
        ("0 0 12 1 JAN,JUL ? *", "0 12 1 JAN,JUL *"),
    ],
)
def test_quartz_cron_conversion(quartz_expression, expected):
    assert to_cron(quartz_expression) == expected


@pytest.mark.parametrize(
    ("quartz_expression", "why"),
    [
        ("0 0 12 1 1 ? 2027", "year field"),
        ("30 0 12 * * ?", "second '30'"),
        ("0/10 * * * * ?", "second-level"),
        ("0 0 12 15W * ?", "weekday nearest"),
        ("0 0 12 L-3 * ?", "before the month's last"),
    ],
)
def test_quartz_expressions_without_a_cron_equivalent(quartz_expression, why):
    with pytest.raises(Inexpressible, match=why):
        to_cron(quartz_expression)


QUARTZ = """<?xml version="1.0" encoding="UTF-8"?>
<job-scheduling-data xmlns="http://quartznet.sourceforge.net/JobSchedulingData" version="2.0">
  <processing-directives><overwrite-existing-data>true</overwrite-existing-data></processing-directives>
  <schedule>
    <job>
      <name>PaymentReminders</name>
      <group>DEFAULT</group>
      <job-type>Dhanman.Jobs.PaymentReminderJob, Dhanman.Jobs</job-type>
      <durable>true</durable>
      <recover>false</recover>
    </job>
    <job>
      <name>MonthEndSalaries</name>
      <group>Payroll</group>
      <job-type>Dhanman.Jobs.SalaryJob, Dhanman.Jobs</job-type>
    </job>
    <job>
      <name>ManualRebuild</name>
      <group>Maintenance</group>
      <job-type>Dhanman.Jobs.RebuildJob, Dhanman.Jobs</job-type>
    </job>
    <job>
      <name>NewYearGreeting</name>
      <job-type>Dhanman.Jobs.GreetingJob, Dhanman.Jobs</job-type>
    </job>
    <trigger>
      <cron>
        <name>PaymentRemindersTrigger</name>
        <job-name>PaymentReminders</job-name>
        <job-group>DEFAULT</job-group>
        <cron-expression>0 0 10 ? * MON-SAT</cron-expression>
        <time-zone>India Standard Time</time-zone>
      </cron>
    </trigger>
    <trigger>
      <cron>
        <name>SalariesTrigger</name>
        <job-name>MonthEndSalaries</job-name>
        <job-group>Payroll</job-group>
        <cron-expression>0 0 23 L * ?</cron-expression>
      </cron>
    </trigger>
    <trigger>
      <cron>
        <name>Greeting2027</name>
        <job-name>NewYearGreeting</job-name>
        <cron-expression>0 0 0 1 1 ? 2027</cron-expression>
      </cron>
    </trigger>
    <trigger>
      <simple>
        <name>Every10s</name>
        <job-name>PaymentReminders</job-name>
        <repeat-count>-1</repeat-count>
        <repeat-interval>10000</repeat-interval>
      </simple>
    </trigger>
  </schedule>
</job-scheduling-data>
"""


def test_quartz_file_import(write, mapping):
    out = run(write("quartz_jobs.xml", QUARTZ), "--format", "quartz", "--map", mapping)
    rows = {r.id: r for r in RecurringJob.objects.all()}
    assert set(rows) == {"payment-reminders-payment-reminders-trigger", "month-end-salaries"}
    reminders = rows["payment-reminders-payment-reminders-trigger"]
    assert (reminders.cron, reminders.timezone) == ("0 10 * * 1-6", "Asia/Kolkata")
    assert rows["month-end-salaries"].cron == "0 23 L * *"
    assert "year field ('2027')" in out  # per entry, and nothing imported for it
    assert "only <cron> triggers are imported" in out
    assert "Maintenance.ManualRebuild" in out and "no trigger" in out


def test_quartz_with_an_unknown_zone_or_a_bad_expression_writes_nothing(write, mapping):
    bad = QUARTZ.replace("<time-zone>India Standard Time</time-zone>", "<time-zone>Gotham Time</time-zone>")
    out, _ = run_failing(write("q1.xml", bad), "--format", "quartz", "--map", mapping)
    assert "Unknown time zone 'Gotham Time'" in out
    bad = QUARTZ.replace("0 0 23 L * ?", "0 0 23 L * 3")
    out, _ = run_failing(write("q2.xml", bad), "--format", "quartz", "--map", mapping)
    assert "Quartz needs '?'" in out
    out, _ = run_failing(
        write("q3.xml", "<job-scheduling-data><schedule>"), "--format", "quartz", "--map", mapping
    )
    assert "not well-formed XML" in out
    assert RecurringJob.objects.count() == 0


def test_xml_entities_are_refused():
    found = quartz.parse(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><job-scheduling-data/>')
    assert "DOCTYPE or ENTITY" in found[0].error


# --- Windows Task Scheduler ------------------------------------------------------------------


def task_xml(name, triggers, command="C:\\Dhanman\\visitor-passes.exe", enabled="true"):
    return f"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.4" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo><Author>DHANMAN\\ops</Author><URI>{name}</URI></RegistrationInfo>
  <Triggers>{triggers}</Triggers>
  <Settings><Enabled>{enabled}</Enabled><StartWhenAvailable>true</StartWhenAvailable></Settings>
  <Actions Context="Author"><Exec><Command>{command}</Command><Arguments>--quiet</Arguments></Exec></Actions>
</Task>"""


def calendar(body, start="2026-01-05T08:00:00", repetition=""):
    return f"<CalendarTrigger>{repetition}<StartBoundary>{start}</StartBoundary><Enabled>true</Enabled>{body}</CalendarTrigger>"


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        (calendar("<ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>"), "0 8 * * *"),
        (
            calendar(
                "<ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>",
                start="2026-01-05T00:00:00",
                repetition="<Repetition><Interval>PT30M</Interval><Duration>P1D</Duration></Repetition>",
            ),
            "*/30 * * * *",
        ),
        (
            calendar(
                "<ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>",
                start="2026-01-05T09:00:00",
                repetition="<Repetition><Interval>PT15M</Interval><Duration>PT8H</Duration></Repetition>",
            ),
            "*/15 9-16 * * *",
        ),
        (
            calendar(
                "<ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>",
                start="2026-01-05T01:00:00",
                repetition="<Repetition><Interval>PT4H</Interval></Repetition>",
            ),
            "0 1-23/4 * * *",
        ),
        (
            calendar(
                "<ScheduleByWeek><WeeksInterval>1</WeeksInterval><DaysOfWeek><Friday/><Monday/></DaysOfWeek></ScheduleByWeek>",
                start="2026-01-02T17:00:00",
            ),
            "0 17 * * 1,5",
        ),
        (
            calendar(
                "<ScheduleByMonth><DaysOfMonth><Day>1</Day><Day>Last</Day></DaysOfMonth>"
                "<Months><January/><July/></Months></ScheduleByMonth>"
            ),
            "0 8 1,L 1,7 *",
        ),
        (
            calendar(
                "<ScheduleByMonthDayOfWeek><Weeks><Week>2</Week><Week>Last</Week></Weeks>"
                "<DaysOfWeek><Tuesday/></DaysOfWeek></ScheduleByMonthDayOfWeek>"
            ),
            "0 8 * * 2#2,2L",
        ),
    ],
)
def test_schtasks_calendar_triggers(trigger, expected):
    [found] = schtasks.parse(task_xml("\\Dhanman\\StockReport", trigger).encode("utf-16"), tz="Asia/Kolkata")
    assert (found.error, found.skip, found.cron) == ("", "", expected)


@pytest.mark.parametrize(
    ("trigger", "why"),
    [
        (calendar("<ScheduleByDay><DaysInterval>3</DaysInterval></ScheduleByDay>"), "every 3 days"),
        (
            calendar(
                "<ScheduleByWeek><WeeksInterval>2</WeeksInterval><DaysOfWeek><Monday/></DaysOfWeek></ScheduleByWeek>"
            ),
            "every 2 weeks",
        ),
        (
            calendar(
                "<ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>",
                repetition="<Repetition><Interval>PT7M</Interval></Repetition>",
            ),
            "does not divide an hour",
        ),
        ("<BootTrigger><Enabled>true</Enabled></BootTrigger>", "machine event"),
    ],
)
def test_schtasks_triggers_without_a_cron_equivalent(trigger, why):
    [found] = schtasks.parse(task_xml("\\Dhanman\\StockReport", trigger).encode("utf-16"), tz="Asia/Kolkata")
    assert why in found.skip


def test_schtasks_import(write, mapping):
    soon = (datetime.now(ZoneInfo("Asia/Kolkata")) + timedelta(days=2)).replace(microsecond=0, tzinfo=None)
    export = f"""<?xml version="1.0" encoding="UTF-16"?>
<Tasks>
  <!-- \\Dhanman\\StockReport -->
  {task_xml("", calendar("<ScheduleByWeek><WeeksInterval>1</WeeksInterval><DaysOfWeek><Friday/></DaysOfWeek></ScheduleByWeek>", start="2026-01-02T17:00:00"), command="C:\\Dhanman\\stock.exe").split("?>", 1)[1]}
  <!-- \\Dhanman\\VisitorPasses -->
  {task_xml("\\Dhanman\\VisitorPasses", calendar("<ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>", start="2026-01-01T00:00:00", repetition="<Repetition><Interval>PT30M</Interval></Repetition>")).split("?>", 1)[1]}
  {task_xml("\\Dhanman\\InvoiceReminderJob", f"<TimeTrigger><StartBoundary>{soon.isoformat()}</StartBoundary><Enabled>true</Enabled></TimeTrigger>", command="C:\\Dhanman\\remind.exe").split("?>", 1)[1]}
  {task_xml("\\Dhanman\\Retired", calendar("<ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>"), enabled="false").split("?>", 1)[1]}
</Tasks>"""
    source = write("tasks-utf16.xml", export)
    out = run(source, "--format", "schtasks", "--map", mapping, "--timezone", "India Standard Time")
    rows = {r.id: r for r in RecurringJob.objects.all()}
    assert {rid: (r.cron, r.timezone, r.task_path) for rid, r in rows.items()} == {
        "stock-report": ("0 17 * * 5", "Asia/Kolkata", "inventory.tasks.generate_stock_report"),
        "visitor-passes": ("*/30 * * * *", "Asia/Kolkata", "community.tasks.expire_visitor_passes"),
    }
    job = Job.objects.get()
    assert (job.state, job.task_path, job.args) == (
        State.SCHEDULED,
        "sales.tasks.send_invoice_reminder",
        [42],
    )
    assert job.run_at == soon.replace(tzinfo=ZoneInfo("Asia/Kolkata"))
    assert "disabled in Task Scheduler" in out
    run(source, "--format", "schtasks", "--map", mapping, "--timezone", "India Standard Time")
    assert Job.objects.count() == 1 and RecurringJob.objects.count() == 2


@pytest.mark.sqlite
def test_import_schedules_on_the_embedded_sqlite(write, mapping):
    """`make run` uses SQLite: the legacy importer works there too (recurring jobs and a one-off)."""
    later = (datetime.now(ZoneInfo("Asia/Kolkata")) + timedelta(days=1)).replace(microsecond=0, tzinfo=None)
    run(write("crontab", CRONTAB), "--format", "crontab", "--map", mapping)
    trigger = f"<TimeTrigger><StartBoundary>{later.isoformat()}</StartBoundary></TimeTrigger>"
    run(
        write("t-utf16.xml", task_xml("\\Dhanman\\InvoiceReminderJob", trigger)),
        "--format",
        "schtasks",
        "--map",
        mapping,
        "--timezone",
        "Asia/Kolkata",
    )
    assert RecurringJob.objects.count() == 4
    assert Job.objects.get().state == State.SCHEDULED
