"""The gateway's splice of the asset id into an upstream answer's ``model`` (no JSON re-encode)."""

from __future__ import annotations

import json

from runtimes.gateway.jsonbody import answer_model as _answer_model
from runtimes.gateway.jsonbody import with_model as _with_model

ASSET = json.dumps("my-asset").encode()


def test_each_sse_event_gets_the_asset_id_and_nothing_else_changes() -> None:
    events = (
        b'data: {"choices":[{"delta":{"content":"a"}}],"created":1,"model":"/models/x.gguf"}\n\n'
        b'data: {"id":"c","model" : "/models/x.gguf","choices":[]}\n\n'
        b"data: [DONE]\n\n"
    )
    out = _with_model(events, ASSET)
    assert out == (
        b'data: {"choices":[{"delta":{"content":"a"}}],"created":1,"model":"my-asset"}\n\n'
        b'data: {"id":"c","model" : "my-asset","choices":[]}\n\n'
        b"data: [DONE]\n\n"
    )


def test_model_text_inside_a_string_is_left_alone() -> None:
    content = {"content": 'x {"model": "y", "model":"z"} \\"model\\": "w"', "args": '{"model":"q"}'}
    event = json.dumps({"model": 'odd \\"name', "choices": [{"delta": content}]}).encode()
    out = json.loads(_with_model(event, ASSET))
    assert out == {"model": "my-asset", "choices": [{"delta": content}]}


def test_an_asset_id_needing_escapes_stays_valid_json() -> None:
    event = b'{"model":"u","choices":[]}'
    out = _with_model(event, json.dumps('a"b\\c').encode())
    assert json.loads(out)["model"] == 'a"b\\c'


def test_a_json_answer_without_a_model_string_gets_one() -> None:
    assert json.loads(_answer_model(b'{"object":"list","data":[]}', "my-asset"))["model"] == "my-asset"
    assert json.loads(_answer_model(b'{"model":null,"data":[]}', "my-asset"))["model"] == "my-asset"
    assert json.loads(_answer_model(b'{"model":7,"data":[]}', "my-asset"))["model"] == "my-asset"
