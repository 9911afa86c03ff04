"""The Responses store on its own: a Redis outage is a 503, and the write-behind store without Redis."""

from __future__ import annotations

import pytest

from gateways.ai import responses_store
from gateways.ai.errors import OpenAIError


async def test_redis_down_answers_503(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    for call in (
        responses_store.save(1, {"id": "resp_x", "output": []}, []),
        responses_store.load(1, "resp_x"),
        responses_store.delete(1, "resp_x"),
    ):
        with pytest.raises(OpenAIError) as caught:
            await call
        assert (caught.value.status, caught.value.code) == (503, "response_store_unavailable")


@pytest.mark.django_db(transaction=True)
async def test_without_redis_kept_in_memory_until_written(settings, make_project):
    from asgiref.sync import sync_to_async

    from gateways.ai.models import StoredResponse

    settings.REDIS_URL = ""
    project = await sync_to_async(make_project)("Store", project_type="ai_gateway")
    store = responses_store.LocalStore()
    store.writer.interval = 3600  # written only when asked: the test sees the pending state
    rows = StoredResponse.objects.filter(project=project)
    store.save((project.id, "resp_a"), {"response": {"id": "resp_a", "output": []}, "input": []})
    store.save((project.id, "resp_b"), {"response": {"id": "resp_b", "output": []}, "input": []})
    assert set(store.pending) == {(project.id, "resp_a"), (project.id, "resp_b")}
    assert await sync_to_async(rows.count)() == 0
    assert store.forget((project.id, "resp_b"))  # deleted before it was written: never inserted
    assert store.writer.wait_idle(5)
    assert await sync_to_async(lambda: list(rows.values_list("response_id", flat=True)))() == ["resp_a"]
    assert store.pending == {} and store.deleted == set()
    store.writer.stop()
