from router.classifier.text import routing_text


def test_system_messages_then_the_last_user_message() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "an answer"},
        {"role": "system", "content": "Use metric units."},
        {"role": "user", "content": "second question"},
    ]
    assert routing_text(messages) == "Be brief.\nUse metric units.\nsecond question"


def test_content_parts_keep_their_text() -> None:
    parts = [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": "data:"}},
        {"type": "text", "text": "this picture."},
    ]
    assert routing_text([{"role": "user", "content": parts}]) == "Describe\nthis picture."


def test_no_user_message() -> None:
    assert routing_text([{"role": "system", "content": "Hi."}]) == "Hi."
    assert routing_text([]) == ""
