"""Rendering the markers of a recording: every replay its own ids, the token and times of sending."""

from __future__ import annotations

import random
import re

from loadtest.har.script import Corr, Fresh, Now, Token, Values

CLOCK_S = 1_715_679_012.5  # 2024-05-14T09:30:12.5Z


def values(seed: int = 1, token: str = "") -> Values:
    return Values(token, rng=random.Random(seed), clock=lambda: CLOCK_S)


def test_fresh_values_are_the_same_within_a_replay_and_new_in_the_next() -> None:
    message = {"a": Fresh(1, "uuid"), "b": [Fresh(1, "uuid"), Fresh(2, "int", 9)], "c": Fresh(2, "int", 9)}
    first, second = values(1).render(message), values(2).render(message)
    assert first["a"] == first["b"][0] and first["b"][1] == first["c"]
    assert first["a"] != second["a"] and first["c"] != second["c"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", first["a"])
    assert 100_000_000 <= first["c"] < 1_000_000_000


def test_fresh_text_keeps_the_recorded_shape() -> None:
    rendered = values().render(
        [Fresh(1, "text", length=5, prefix="u-", alphabet="digits"), Fresh(2, "text", 6, "", "hex")]
    )
    assert re.fullmatch(r"u-\d{5}", rendered[0]) and re.fullmatch(r"[0-9a-f]{6}", rendered[1])


def test_now_renders_the_time_of_sending_in_the_recorded_unit() -> None:
    v = values()
    assert v.render([Now("s"), Now("s_float"), Now("ms"), Now("us"), Now("ms", text=True)]) == [
        1715679012,
        1715679012.5,
        1715679012500,
        1715679012500000,
        "1715679012500",
    ]
    assert v.render(Now("iso")) == "2024-05-14T09:30:12.500Z"
    assert v.render(Now("iso", digits=0, offset="+02:00")) == "2024-05-14T11:30:12+02:00"
    assert v.render(Now("iso", digits=6, offset="")) == "2024-05-14T09:30:12.500000"


def test_correlation_values_are_unique_in_a_session() -> None:
    v = values()
    ints = [v.render(Corr()) for _ in range(100)]
    texts = [v.render(Corr("text")) for _ in range(100)]
    assert len(set(ints)) == 100 and ints == sorted(ints)
    assert len(set(texts)) == 100 and all(re.fullmatch("[0-9a-f]+", t) for t in texts)


def test_the_token_fills_its_template_and_a_missing_token_leaves_its_parameter_out() -> None:
    assert values(token="s3cret").render({"auth": Token("Bearer {token}"), "t": Token()}) == {
        "auth": "Bearer s3cret",
        "t": "s3cret",
    }
    query = (("room", "lobby"), ("token", Token()), ("t", Now("ms", text=True)))
    assert values(token="s3cret").query(query) == "room=lobby&token=s3cret&t=1715679012500"
    assert values(token="").query(query) == "room=lobby&t=1715679012500"
