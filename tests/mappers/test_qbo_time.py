"""parse_qbo_time on every timestamp of the real webhook and CDC fixtures, plus round-trips."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappers.qbo_time import meta_time, parse_qbo_time

QBO = Path(__file__).parents[1] / "fixtures" / "qbo"
# Copied byte for byte from /work/shared/fixtures/quickbooks/{webhooks,cdc}: Intuit's Java and .NET SDK
# tests, Intuit's 2025-11-12 announcement, Intuit's CDC doc sample and minimul/qbo_api's recorded CDC.
FIXTURE_FILES = sorted((QBO / "webhooks").glob("*.json")) + sorted((QBO / "cdc").glob("*.json"))
_LOOKS_LIKE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _strings(value: object) -> list[str]:
    """Every string anywhere in a parsed JSON document."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def fixture_timestamps() -> list[str]:
    """Each distinct date-time string in the copied fixtures."""
    found = {text for path in FIXTURE_FILES for text in _strings(json.loads(path.read_bytes()))
             if _LOOKS_LIKE_TIME.match(text)}
    return sorted(found)


def test_the_fixtures_hold_every_form_the_reference_names() -> None:
    """Reference §1.1/§11: -0700 (Java SDK), .657Z (blog), .000Z (.NET), nanoseconds (CloudEvents), -08:00."""
    stamps = fixture_timestamps()
    assert len(stamps) >= 15
    assert {"2015-10-05T14:42:19-0700", "2025-09-08T20:52:31.657Z", "2016-10-05T03:09:04.000Z",
            "2025-09-10T21:31:25.179851517Z", "2015-12-23T12:56:06.196-08:00"} <= set(stamps)


@pytest.mark.parametrize("text", fixture_timestamps())
def test_every_fixture_timestamp_parses_to_aware_utc(text: str) -> None:
    parsed = parse_qbo_time(text)
    assert parsed.tzinfo is timezone.utc
    assert parsed.year in range(2015, 2026)


@pytest.mark.parametrize(("text", "expected"), [
    # java_sdk_legacy_eventNotifications.json: colon-less offset.
    ("2015-10-05T14:42:19-0700", datetime(2015, 10, 5, 21, 42, 19, tzinfo=timezone.utc)),
    # intuit_blog_2025-11-12_legacy_sample.json: milliseconds, Z.
    ("2025-09-08T20:52:31.657Z", datetime(2025, 9, 8, 20, 52, 31, 657000, tzinfo=timezone.utc)),
    # intuit_blog_2025-11-12_cloudevents_sample.json: nanoseconds are cut to microseconds, not rounded.
    ("2025-09-10T21:31:25.179851517Z", datetime(2025, 9, 10, 21, 31, 25, 179851, tzinfo=timezone.utc)),
    ("2025-10-07T19:59:07.999999999Z", datetime(2025, 10, 7, 19, 59, 7, 999999, tzinfo=timezone.utc)),
    # cdc sample `time`: milliseconds with a colon offset.
    ("2015-12-23T12:56:06.196-08:00", datetime(2015, 12, 23, 20, 56, 6, 196000, tzinfo=timezone.utc)),
    ("2015-10-07T11:43:20-07:00", datetime(2015, 10, 7, 18, 43, 20, tzinfo=timezone.utc)),
    ("2020-01-01T05:30:00+0530", datetime(2020, 1, 1, 0, 0, tzinfo=timezone.utc)),
])
def test_known_instants(text: str, expected: datetime) -> None:
    assert parse_qbo_time(text) == expected


@pytest.mark.parametrize("text", [
    "", "garbage", "2015-10-05", "2015-10-05T14:42", "2015-10-05T14:42:19",  # no offset: ambiguous
    "2015-10-05 14:42:19Z", "2015-10-05t14:42:19Z", "2015-13-05T14:42:19Z", "2015-02-30T14:42:19Z",
    "2015-10-05T25:00:00Z", "2015-10-05T14:42:19-07", "2015-10-05T14:42:19-07:0", "2015-10-05T14:42:19-0760",
    "2015-10-05T14:42:19+19:00", "2015-10-05T14:42:19.Z", "2015-10-05T14:42:19.1234567890Z",
    " 2015-10-05T14:42:19Z", "2015-10-05T14:42:19Z ", "2015-10-05T14:42:19ZZ", "\u0662015-10-05T14:42:19Z",
    "0001-01-01T00:00:00+01:00",
])
def test_garbage_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_qbo_time(text)


OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes)))
MOMENTS = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=OFFSETS)


def _offset(moment: datetime, colon: bool) -> str:
    """±HH:MM or ±HHMM for the moment's offset."""
    minutes = int(moment.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{':' if colon else ''}{rest:02d}"


@given(moment=MOMENTS, colon=st.booleans(), zulu=st.booleans(), extra=st.integers(0, 999))
def test_round_trip_microseconds_and_nanoseconds(moment: datetime, colon: bool, zulu: bool,
                                                 extra: int) -> None:
    """Microsecond and nanosecond renderings (the CloudEvents form) come back as the same instant."""
    local = moment.astimezone(timezone.utc) if zulu else moment
    zone = "Z" if zulu else _offset(local, colon)
    base = local.strftime("%Y-%m-%dT%H:%M:%S")
    assert parse_qbo_time(f"{base}.{local.microsecond:06d}{zone}") == moment
    assert parse_qbo_time(f"{base}.{local.microsecond:06d}{extra:03d}{zone}") == moment


@given(moment=MOMENTS, colon=st.booleans())
def test_round_trip_seconds_and_milliseconds(moment: datetime, colon: bool) -> None:
    """The legacy forms: seconds with ±HHMM / ±HH:MM (Java SDK, MetaData) and milliseconds."""
    whole = moment.replace(microsecond=0)
    assert parse_qbo_time(whole.strftime("%Y-%m-%dT%H:%M:%S") + _offset(whole, colon)) == whole
    millis = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    fraction = f".{millis.microsecond // 1000:03d}"
    text = millis.strftime("%Y-%m-%dT%H:%M:%S") + fraction + _offset(millis, colon)
    assert parse_qbo_time(text) == millis
    assert parse_qbo_time(text).utcoffset() == timedelta(0)


@pytest.mark.parametrize("meta", [None, {}, {"LastUpdatedTime": ""}, {"LastUpdatedTime": "yesterday"},
                                  {"LastUpdatedTime": 1444171400}, {"LastUpdatedTime": "2015-10-07T11:43:20"}])
def test_meta_time_is_none_for_a_missing_or_unreadable_stamp(meta) -> None:
    record = {"Id": "1"} if meta is None else {"Id": "1", "MetaData": meta}
    assert meta_time(record) is None


def test_meta_time_reads_the_named_metadata_field() -> None:
    record = {"MetaData": {"CreateTime": "2015-07-24T10:35:08-07:00", "LastUpdatedTime": "2015-10-07T11:43:20-07:00"}}
    assert meta_time(record) == datetime(2015, 10, 7, 18, 43, 20, tzinfo=timezone.utc)
    assert meta_time(record, "CreateTime") == datetime(2015, 7, 24, 17, 35, 8, tzinfo=timezone.utc)
