"""Statistics of a period (appliance/console/statistics.py) and their SVG charts (charts.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from appliance.console.charts import Series, bar_chart, line_chart, nice_ceiling
from appliance.console.statistics import Period, compute, csv_rows, percentile, queue_depths
from appliance.domain.enums import AnalysisState, Resolution
from appliance.domain.errors import AppError, ErrorCode
from appliance.store.protocol import AnalysisTiming, QueueDepthPeak

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def timing(
    finished: float, analysis_type: str = "QUALITY", resolution: Resolution = Resolution.SUCCESS, *, run: float = 2.0
) -> AnalysisTiming:
    """An analysis created 10 s before its end, started `run` seconds before it (None if run < 0)."""
    end = at(finished)
    return AnalysisTiming(
        type=analysis_type,
        state=AnalysisState.FAILED if resolution is Resolution.FAILED else AnalysisState.FINISHED,
        resolution_status=resolution,
        time_created=end - timedelta(seconds=10),
        time_started=end - timedelta(seconds=run) if run >= 0 else None,
        time_finished=end,
    )


def test_percentiles_interpolate_between_ranks() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert [percentile(values, q) for q in (0, 50, 90, 100)] == [1.0, 2.5, pytest.approx(3.7), 4.0]
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_a_preset_period_ends_with_the_current_minute() -> None:
    now = datetime(2026, 3, 1, 12, 30, 45, tzinfo=UTC)
    day = Period.parse(None, None, None, now)
    assert (day.start, day.end, day.bucket) == (at(-1440 + 31), at(31), timedelta(minutes=15))
    hour = Period.parse("1h", "", "", now)
    assert (hour.end - hour.start, hour.bucket, len(hour.bucket_starts())) == (
        timedelta(hours=1),
        timedelta(minutes=1),
        60,
    )
    assert Period.parse("30d", None, None, now).bucket == timedelta(hours=6)
    custom = Period.parse("1h", "2026-03-01T10:00", "2026-03-01T12:00", now)  # the custom times win
    assert (custom.start, custom.end, custom.bucket) == (at(-120), T0, timedelta(minutes=1))


@pytest.mark.parametrize(
    ("preset", "start", "end"),
    [
        ("forever", None, None),
        (None, "2026-03-01T10:00", None),
        (None, "2026-03-01T12:00", "2026-03-01T10:00"),
        (None, "yesterday", "2026-03-01T10:00"),
        (None, "2024-01-01T00:00", "2026-03-01T10:00"),
    ],
    ids=["unknown preset", "start only", "end before start", "not a time", "over a year"],
)
def test_a_wrong_period_is_refused(preset: str | None, start: str | None, end: str | None) -> None:
    with pytest.raises(AppError) as refused:
        Period.parse(preset, start, end, T0)
    assert refused.value.code is ErrorCode.INVALID_VALUE


def test_statistics_of_a_period() -> None:
    period = Period.of(T0, at(10))  # ten buckets of one minute
    timings = [
        timing(0.5),
        timing(0.9, "BIOMETRY", Resolution.DECLINED, run=4.0),
        timing(5.2, "BIOMETRY", Resolution.OPERATOR_REQUIRED, run=6.0),
        timing(9.99, "QUALITY", Resolution.FAILED, run=-1),  # never started
    ]
    stats = compute(timings, period)
    assert stats.total == 4
    assert [rate for _, rate in stats.per_minute] == [2, 0, 0, 0, 0, 1, 0, 0, 0, 1]
    assert stats.per_minute[5][0] == at(5)
    assert stats.decisions == {
        "BIOMETRY": {"DECLINED": 1, "OPERATOR_REQUIRED": 1},
        "QUALITY": {"FAILED": 1, "SUCCESS": 1},
    }
    assert stats.resolutions == ["DECLINED", "FAILED", "OPERATOR_REQUIRED", "SUCCESS"]
    assert stats.run_time["BIOMETRY"].seconds[50] == pytest.approx(5.0)
    assert stats.run_time["QUALITY"].count == 1  # the FAILED one never ran
    assert stats.run_time["all"].count == 3 and stats.end_to_end["all"].count == 4
    assert stats.end_to_end["all"].seconds[99] == pytest.approx(10.0)


def test_rates_are_per_minute_in_wider_buckets() -> None:
    period = Period.of(T0, at(24 * 60))  # fifteen-minute buckets
    stats = compute([timing(1), timing(2), timing(14.9)], period)
    assert stats.per_minute[0][1] == pytest.approx(3 / 15)


def peak(minutes: float, queue: str, depth: int) -> QueueDepthPeak:
    return QueueDepthPeak(bucket_start=at(minutes), queue=queue, depth=depth)


def test_queue_depth_peaks_become_one_value_per_bucket_and_queue() -> None:
    period = Period.of(T0, at(3))  # three buckets of one minute
    assert period.bucket_bounds() == [at(0), at(1), at(2), at(3)]
    depths = queue_depths(
        [peak(0, "preview", 1), peak(0, "analysis", 7), peak(2, "analysis", 4)], period, {"default": 2}, at(5)
    )
    assert depths.peaks == {"analysis": [7, None, 4], "preview": [1, None, None]}  # no sample, no value
    assert depths.table() == [("analysis", None, 7), ("default", 2, None), ("preview", None, 1)]
    unanswered = queue_depths([], period, None, at(5))
    assert (unanswered.peaks, unanswered.now, unanswered.table()) == ({}, None, [])


def test_the_csv_holds_every_number_in_one_long_table() -> None:
    period = Period.of(T0, at(2))
    stats = compute([timing(0.5), timing(1.5, "BIOMETRY")], period)
    depths = queue_depths(
        [peak(0, "analysis", 5), peak(1, "analysis", 3)], period, {"analysis": 3, "resolution": 0}, at(9)
    )
    rows = list(csv_rows(stats, depths))
    assert rows[0] == ["metric", "time", "type", "resolution", "queue", "value"]
    assert ["analyses_per_minute", at(1).isoformat(), "", "", "", "1.0000"] in rows
    assert ["analyses", "", "BIOMETRY", "SUCCESS", "", "1"] in rows
    assert ["run_seconds_p95", "", "all", "", "", "2.000"] in rows
    assert ["end_to_end_seconds_p50", "", "QUALITY", "", "", "10.000"] in rows
    assert [r for r in rows if r[0] == "queue_depth"] == [
        ["queue_depth", at(0).isoformat(), "", "", "analysis", "5"],
        ["queue_depth", at(1).isoformat(), "", "", "analysis", "3"],
    ]
    assert ["queue_depth_now", at(9).isoformat(), "", "", "resolution", "0"] in rows
    assert not any(r[0].startswith("queue_depth") for r in csv_rows(stats, None))


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1), (0.3, 0.5), (1, 1), (2.2, 2.5), (7, 10), (12, 20), (1000, 1000), (0.031, 0.05)]
)
def test_axes_end_at_a_round_number(value: float, ceiling: float) -> None:
    assert nice_ceiling(value) == pytest.approx(ceiling)


def points(line: ET.Element) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in line.get("points", "").split())]


def test_a_line_chart_is_an_svg_image_with_a_title() -> None:
    times = [at(i) for i in range(5)]
    chart = line_chart(times, [Series("analyses", [float(i) for i in range(5)])], title="Rate <per> minute", unit="/m")
    svg = ET.fromstring(str(chart))
    assert svg.get("role") == "img"
    assert svg.findtext(f"{SVG}title") == "Rate <per> minute"  # escaped, and read back as text
    (line,) = svg.iter(f"{SVG}polyline")
    ys = [y for _, y in points(line)]
    assert ys == sorted(ys, reverse=True)  # rising values go up the image
    assert ET.fromstring(str(line_chart([], [], title="empty", unit="")))  # no data: still a chart


def test_lines_break_where_a_series_has_no_value() -> None:
    times = [at(i) for i in range(6)]
    series = [Series("analysis", [4, 8, None, 2, 2, None]), Series("preview", [None, None, None, None, None, 1])]
    svg = ET.fromstring(str(line_chart(times, series, title="Queue depth", unit="tasks")))
    lines = [(line.get("class"), points(line)) for line in svg.iter(f"{SVG}polyline")]
    assert [(css, len(xy)) for css, xy in lines] == [("line series-analysis", 2), ("line series-analysis", 2)]
    first, second = (xy for _, xy in lines)
    assert first[0][1] > first[1][1]  # 8 above 4
    assert second[0][0] - first[1][0] == pytest.approx(2 * (first[1][0] - first[0][0]))  # the gap keeps its width
    (dot,) = svg.iter(f"{SVG}circle")  # a value alone is a dot, at the last time
    step = second[1][0] - second[0][0]
    assert (dot.get("class"), float(dot.get("cx", 0))) == ("point series-preview", pytest.approx(second[1][0] + step))
    assert [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "legend"] == ["analysis", "preview"]


def test_stacked_bars_sit_on_each_other_and_grouped_bars_side_by_side() -> None:
    series = [Series("SUCCESS", [3, 1]), Series("DECLINED", [1, 0])]

    def bars(stacked: bool) -> list[tuple[float, float, float]]:
        """(x, top, bottom) of each bar, in drawing order."""
        svg = ET.fromstring(str(bar_chart(["QUALITY", "BIOMETRY"], series, title="t", unit="n", stacked=stacked)))
        rects = [r for r in svg.iter(f"{SVG}rect") if "bar" in r.get("class", "")]
        return [
            (float(r.get("x", 0)), float(r.get("y", 0)), float(r.get("y", 0)) + float(r.get("height", 0)))
            for r in rects
        ]

    (q_success, q_declined, b_success), grouped = bars(True), bars(False)  # a zero draws no bar
    assert q_declined[0] == q_success[0] and q_declined[2] == pytest.approx(q_success[1])  # on top of it
    assert q_success[2] - q_success[1] == pytest.approx(3 * (b_success[2] - b_success[1]))
    assert len(grouped) == 3 and grouped[1][0] > grouped[0][0]  # beside it
    assert grouped[1][2] == pytest.approx(grouped[0][2])  # on the same baseline
