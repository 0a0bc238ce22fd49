"""GET /api/suggest: titles of the served index by prefix, bad input answered with 400."""

from __future__ import annotations

import pytest


def test_suggestions_from_the_titles(client) -> None:
    response = client.get("/api/suggest?q=wexley")
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True and body["q"] == "wexley"
    assert body["suggestions"] == [
        {
            "text": "Wexley Street Swing Bridge Reopens After 14 Months and $18.4 Million in "
            "Repairs",
            "kind": "title",
            "weight": 1,
        }
    ]


def test_one_character_is_an_answer(client) -> None:
    body = client.get("/api/suggest?q=w&k=20").get_json()
    texts = [s["text"] for s in body["suggestions"]]
    assert texts and all(t.lower().startswith("w") for t in texts)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "missing prefix"),
        ("?q=", "missing prefix"),
        ("?q=%20%20", "empty prefix"),
        ("?q=" + "a" * 1000, "q is 1000 characters long; a suggestion prefix is at most 200"),
        ("?q=harb&k=0", "k must be an integer from 1 to 20"),
        ("?q=harb&k=abc", "k must be an integer from 1 to 20"),
        ("?q=harb&limit=3", "unknown parameter 'limit'"),
    ],
)
def test_bad_requests_are_400s_with_a_message(client, query: str, message: str) -> None:
    response = client.get("/api/suggest" + query)
    assert response.status_code == 400
    body = response.get_json()
    assert body["ok"] is False and message in body["error"]


def test_hostile_prefix_is_data(client) -> None:
    response = client.get("/api/suggest?q=%3Cscript%3E%00%ff")
    assert response.status_code == 200
    assert response.get_json()["suggestions"] == []
