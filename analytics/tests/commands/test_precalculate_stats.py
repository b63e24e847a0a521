"""precalculate_stats (SPEC §7): incremental folds, dry runs, one run at a time, StatsD, and kill safety."""

from __future__ import annotations

import socket
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analytics.management.commands.precalculate_stats import EXIT_LOCKED, MSG_BAD_DAYS, MSG_FULL_AND_DAYS
from analytics.models import BlogView, DailyAnalyticsSummary, FoldState, PeriodAnalyticsSummary, ViewChange
from analytics.services import metrics
from analytics.services.folding import ALL_COUNTRIES, summaries_fold
from analytics.services.locking import MSG_LOCK_BUSY, fold_lock
from analytics.tests.api.conftest import at


def run(*args: str) -> str:
    out, err = StringIO(), StringIO()
    call_command("precalculate_stats", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_first_run_folds_everything_and_consumes_the_markers(dataset):
    assert ViewChange.objects.exists()
    output = run()
    assert "precalculate_stats: folded" in output
    assert not ViewChange.objects.exists()
    state = FoldState.objects.get()
    assert str(state.folded_through) == "2025-06-15"
    # One day block per day from the first view (2025-05-20) to today, plus whole weeks and months.
    assert DailyAnalyticsSummary.objects.filter(country_key=ALL_COUNTRIES).count() == 27
    assert PeriodAnalyticsSummary.objects.filter(granularity="month", country_key=ALL_COUNTRIES).count() == 1


def test_dry_run_writes_nothing(dataset):
    output = run("--dry-run")
    assert "Nothing was written" in output and "a full rebuild" in output
    assert not FoldState.objects.exists()
    assert not DailyAnalyticsSummary.objects.exists()


def test_incremental_run_refolds_only_changed_days(dataset):
    run()
    BlogView.objects.create(blog=dataset.b2, country=None, timestamp=at("2025-06-02T12:00"))
    report = summaries_fold()
    assert [str(day) for day in report.plan.days] == ["2025-06-02"]
    assert [str(week) for week in report.plan.weeks] == ["2025-06-02"]
    assert report.plan.months == ()  # June is not over yet on 2025-06-15
    assert not ViewChange.objects.exists()


def test_nothing_changed_means_nothing_to_fold(dataset):
    run()
    assert summaries_fold().plan.blocks == 0


@pytest.mark.parametrize(
    ("args", "message"), [(["--days", "0"], MSG_BAD_DAYS), (["--full", "--days", "3"], MSG_FULL_AND_DAYS)]
)
def test_operator_mistakes(db, args, message):
    with pytest.raises(CommandError, match=message.split(";")[0].split(",")[0]):
        run(*args)


def test_a_second_run_exits_75_while_the_lock_is_held(dataset):
    """Two runs: the one holding the lock folds, the other leaves at once with the lock message."""
    holding, release = threading.Event(), threading.Event()
    problems: list[BaseException] = []

    def first_run() -> None:
        try:
            with fold_lock():
                holding.set()
                release.wait(timeout=30)
        except BaseException as error:  # noqa: BLE001 - reported below
            problems.append(error)
            holding.set()
        finally:
            from django.db import connection

            connection.close()

    thread = threading.Thread(target=first_run)
    thread.start()
    try:
        assert holding.wait(timeout=30)
        assert not problems
        with pytest.raises(CommandError) as caught:
            run()
        assert caught.value.returncode == EXIT_LOCKED
        assert str(caught.value).startswith(MSG_LOCK_BUSY.split("{")[0])
        assert not FoldState.objects.exists()
    finally:
        release.set()
        thread.join(timeout=30)
    assert "folded" in run()  # the lock is free again


def test_statsd_metrics_reach_a_real_udp_socket(dataset, settings):
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    settings.STATSD_HOST, settings.STATSD_PORT = "127.0.0.1", receiver.getsockname()[1]
    try:
        run()
        packets = receiver.recv(65536).decode()
    finally:
        receiver.close()
        metrics._client.cache_clear()
    names = {line.split(":")[0] for line in packets.splitlines()}
    assert {
        "ideeza.precalculate_stats.runs",
        "ideeza.precalculate_stats.duration",
        "ideeza.precalculate_stats.blocks",
        "ideeza.precalculate_stats.rows",
    } <= names
    assert "ideeza.precalculate_stats.runs:1|c" in packets.splitlines()
