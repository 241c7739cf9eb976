"""Fan-out accounting: streams, subscription windows, and the summary's sums, case by case."""

from __future__ import annotations

from loadtest.metrics.delivery import MAX_PENDING, STAMP_KEY, Stamp, Stream, Subscription, read_stamp
from loadtest.metrics.recorder import Recorder
from loadtest.report.fanout import section


def _stamp(seq: int, publisher: str = "p1") -> Stamp:
    return Stamp(publisher, seq, 0, "host")


# -- one stream ----------------------------------------------------------------------------------
def test_in_order_every_number_is_a_first_delivery() -> None:
    stream = Stream(1)
    assert [stream.arrive(n) for n in (1, 2, 3)] == [True, True, True]
    assert (stream.delivered, stream.top, stream.missing, stream.duplicated, stream.reordered) == (
        3,
        3,
        0,
        0,
        0,
    )


def test_a_gap_filled_later_is_a_reordering_not_a_loss() -> None:
    stream = Stream(1)
    for n in (1, 3, 4):
        stream.arrive(n)
    assert stream.missing == 1  # 2 is pending: 3 and 4 arrived after it could have
    assert stream.arrive(2) is True
    assert (stream.delivered, stream.missing, stream.reordered) == (4, 0, 1)


def test_a_gap_never_filled_stays_missing() -> None:
    stream = Stream(1)
    for n in (1, 2, 4, 5, 7):
        stream.arrive(n)
    assert (stream.delivered, stream.missing, stream.top) == (5, 2, 7)


def test_duplicates_are_counted_once_whether_in_order_or_late() -> None:
    stream = Stream(1)
    for n in (1, 2, 2, 4, 1, 4):
        stream.arrive(n)
    assert (stream.delivered, stream.duplicated, stream.missing) == (3, 3, 1)
    stream.arrive(3)
    stream.arrive(3)
    assert (stream.delivered, stream.duplicated, stream.reordered) == (4, 4, 1)


def test_numbers_before_the_window_are_neither_delivered_nor_duplicates() -> None:
    stream = Stream(11)
    assert stream.arrive(10) is False
    assert stream.arrive(12) is True
    assert (stream.delivered, stream.duplicated, stream.missing) == (1, 0, 1)  # 11 is missing


def test_pending_gaps_are_bounded_and_the_oldest_given_up() -> None:
    stream = Stream(1)
    for n in range(2, 2 * (MAX_PENDING + 10) + 1, 2):  # every odd number lost
        stream.arrive(n)
    assert stream.missing == MAX_PENDING + 10  # all counted missing...
    assert stream.given_up == 10  # ...but only MAX_PENDING of them still waiting
    assert stream.arrive(1) is False and stream.duplicated == 1  # given up: cannot be told from a copy
    assert stream.arrive(2 * (MAX_PENDING + 10) - 1) is True and stream.reordered == 1


def test_a_jump_gives_up_everything_older_than_the_bound_at_once() -> None:
    stream = Stream(1)
    stream.arrive(1)
    stream.arrive(5 * MAX_PENDING)
    assert stream.missing == 5 * MAX_PENDING - 2
    assert stream.given_up == 5 * MAX_PENDING - 2 - MAX_PENDING


# -- ordinal mode: the window from the acknowledgement's ordinal ---------------------------------
def test_ordinal_window_with_a_fence_is_exact_at_both_ends() -> None:
    sub = Subscription("t", ordinal=10, from_start=False)
    assert sub.deliver(_stamp(3), 10) is False  # published before the subscription
    for seq, ordinal in ((4, 11), (5, 12), (7, 14)):
        assert sub.deliver(_stamp(seq), ordinal)
    sub.fence = 16  # 13, 15 and 16 never came
    assert sub.deliver(_stamp(10), 17) is False  # after the window closed
    out = sub.settle(open_at_end=True)
    assert (out.mode, out.expected, out.delivered, out.ended_early) == ("ordinal", 6, 3, False)


def test_ordinal_window_of_a_session_that_ended_stops_at_its_last_arrival() -> None:
    sub = Subscription("t", ordinal=0, from_start=True)
    for ordinal in (1, 2, 4):
        sub.deliver(_stamp(ordinal), ordinal)
    out = sub.settle(open_at_end=False)
    assert (out.expected, out.delivered, out.ended_early) == (4, 3, True)  # 3 lost; after 4 unknown


def test_a_lost_sessions_window_ends_where_the_target_says_it_removed_the_subscription() -> None:
    sub = Subscription("t", ordinal=3, from_start=False)
    for ordinal in (4, 5):
        sub.deliver(_stamp(ordinal), ordinal)
    sub.fence = 8  # the next acknowledgement's "previous": 6 to 8 were in flight or queued
    out = sub.settle(open_at_end=False)
    assert (out.expected, out.delivered, out.ended_early) == (5, 2, True)


def test_reordering_is_judged_per_publisher_not_across_publishers() -> None:
    sub = Subscription("t", ordinal=0, from_start=True)
    arrivals = [("a", 1, 1), ("b", 1, 3), ("a", 2, 2), ("b", 3, 5), ("b", 2, 4)]  # b's 2 after its 3
    for publisher, seq, ordinal in arrivals:
        sub.deliver(_stamp(seq, publisher), ordinal)
    sub.fence = 5
    out = sub.settle(open_at_end=True)
    assert (out.reordered, out.delivered, out.expected, out.duplicated) == (1, 5, 5, 0)


def test_ordinal_duplicates_are_counted_and_not_delivered_twice() -> None:
    sub = Subscription("t", ordinal=0, from_start=True)
    for ordinal in (1, 2, 2, 1):
        sub.deliver(_stamp(ordinal), ordinal)
    sub.fence = 2
    out = sub.settle(open_at_end=True)
    assert (out.delivered, out.duplicated, out.expected) == (2, 2, 2)


def test_without_a_fence_answer_an_open_ordinal_window_falls_back_on_sequences() -> None:
    sub = Subscription("t", ordinal=0, from_start=True)
    sub.deliver(_stamp(1), 1)
    out = sub.settle(open_at_end=True)  # the fence was not answered within the grace
    assert (out.mode, out.from_start, out.expected, out.delivered) == ("ordinal", True, 0, 1)
    late = Subscription("t", ordinal=7, from_start=False)
    late.deliver(_stamp(5, "a"), 9)
    late.deliver(_stamp(4, "a"), 8)  # reordered: the lowest arrival is the start
    assert late.settle(open_at_end=True).open_starts == {"a": 3}


# -- sequence mode: per publisher, from 1 (the barrier) or from the first arrival ---------------
def test_sequence_window_in_place_from_the_start_is_left_to_the_publishers_totals() -> None:
    sub = Subscription("t", ordinal=None, from_start=True)
    for seq in (2, 3):  # 1 was lost: the stream starts at 1 all the same
        sub.deliver(_stamp(seq), None)
    assert not sub.complete({"p1": 3}) and not sub.complete({"p1": 4})
    out = sub.settle(open_at_end=True)
    assert (out.mode, out.from_start, out.expected, out.delivered, out.open_starts) == (
        "sequence",
        True,
        0,
        2,
        {},
    )


def test_sequence_window_acknowledged_mid_run_starts_at_each_publishers_first_arrival() -> None:
    sub = Subscription("t", ordinal=None, from_start=False)
    for publisher, seq in (("a", 40), ("b", 7), ("a", 42), ("a", 41)):
        sub.deliver(_stamp(seq, publisher), None)
    assert sub.complete({"a": 42, "b": 7}) and not sub.complete({"a": 43, "b": 7})
    out = sub.settle(open_at_end=True)
    assert (out.from_start, out.open_starts, out.delivered, out.reordered) == (False, {"a": 39, "b": 6}, 4, 1)


def test_sequence_window_of_a_session_that_ended_is_counted_by_the_subscription() -> None:
    sub = Subscription("t", ordinal=None, from_start=True)
    for publisher, seq in (("a", 1), ("a", 3), ("b", 2)):
        sub.deliver(_stamp(seq, publisher), None)
    out = sub.settle(open_at_end=False)
    assert (out.ended_early, out.expected, out.delivered) == (True, 3 + 2, 3)


# -- the summary: adding settlements and the publishers' totals -----------------------------------
def _settle_into(recorder: Recorder, sub: Subscription, *, open_at_end: bool) -> None:
    sub.settle(open_at_end=open_at_end).record(recorder, sub.topic)


def test_summary_adds_what_open_subscriptions_were_entitled_to_from_the_publishers_totals() -> None:
    recorder = Recorder()
    for key, sent in (("a|t", 10), ("b|t", 5), ("a|u", 4)):
        recorder.count("fanout_published", sent)
        recorder.count_keyed("fanout_published_by", key, sent)
    recorder.count("fanout_subscriptions", 4)
    whole = Subscription("t", ordinal=None, from_start=True)  # every one of a's and b's 15 on t
    for seq in range(1, 11):
        whole.deliver(_stamp(seq, "a"), None)
    for seq in (1, 2, 4):
        whole.deliver(_stamp(seq, "b"), None)
    late = Subscription("t", ordinal=None, from_start=False)  # a from 7 (4 messages), b never heard
    for seq in (7, 9, 10):
        late.deliver(_stamp(seq, "a"), None)
    churned = Subscription("u", ordinal=None, from_start=True)  # ended after a's 2 on u
    churned.deliver(_stamp(2, "a"), None)
    fenced = Subscription("u", ordinal=1, from_start=False)
    fenced.deliver(_stamp(3, "a"), 2)
    fenced.fence = 4
    _settle_into(recorder, whole, open_at_end=True)
    _settle_into(recorder, late, open_at_end=True)
    _settle_into(recorder, churned, open_at_end=False)
    _settle_into(recorder, fenced, open_at_end=True)
    fanout = section(recorder)
    expected = 15 + 4 + 2 + 3
    delivered = 13 + 3 + 1 + 1
    assert {k: fanout[k] for k in ("published", "expected", "delivered", "lost", "publishers", "topics")} == {
        "published": 19,
        "expected": expected,
        "delivered": delivered,
        "lost": expected - delivered,
        "publishers": 2,
        "topics": 2,
    }
    assert fanout["subscriptions"] == {
        "acknowledged": 4,
        "settled": 4,
        "ended_early": 1,
        "ordinal": 1,
        "sequence": 3,
    }


def test_summary_of_a_run_without_fan_out_has_no_data() -> None:
    fanout = section(Recorder())
    assert fanout["published"] is None and fanout["lost"] is None and fanout["latency_ms"]["count"] == 0


def test_stamps_round_trip_and_foreign_data_has_none() -> None:
    stamp = Stamp("ab12.3", 7, 123456789, "bootid")
    assert read_stamp({STAMP_KEY: stamp.as_data(), "pad": "xx"}) == stamp
    for data in (None, "text", {}, {STAMP_KEY: {"p": "x", "s": "7", "t": 1, "h": "h"}}, {STAMP_KEY: [1]}):
        assert read_stamp(data) is None
