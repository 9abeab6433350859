"""What a caller of the installed package sees through its type hints:
checked by `mypy --strict --warn-unused-ignores` in test_pip_install.py,
never run. assert_type fails if a hint is wrong; each `type: ignore`
marks a call the hints must refuse (an unused one is an error too).
"""
import asyncio
from typing import Any, List, Optional, Union

from typing_extensions import assert_type

import ringside


def use(sock: Optional[str]) -> None:
    assert_type(ringside.__version__, str)
    with ringside.Client(sock) as c:
        assert_type(c, ringside.Client)
        r = c.chat([{"role": "user", "content": "hi"}], max_tokens=8, priority=ringside.P0)
        assert_type(r, ringside.Response)
        assert_type(r.json(), Any)
        assert_type(r.headers, dict[str, str])
        assert_type(r.header("content-type"), Optional[str])
        assert_type(r.header("x-n", ""), str)
        assert_type(r.timings.total_us, int)
        assert_type(r.body, bytes)

        s = c.chat([{"role": "user", "content": "hi"}], stream=True)
        assert_type(s, ringside.Stream)
        for chunk in s:
            assert_type(chunk, ringside.Chunk)
            assert_type(chunk.delta, str)
        assert_type(s.response, Optional[ringside.Response])

        r = c.request("POST", "/chat/completions", b"{}", route="echo", headers={"x-a": 1}, timeout=2.5)
        r = c.request("POST", "/chat/completions", {"model": "m"}, headers=[("x-a", "b")])
        t = c.submit("POST", "/chat/completions", "{}", priority=ringside.P2)
        assert_type(t, int)
        assert_type(c.wait(t, timeout=1), ringside.Response)
        assert_type(c.poll(), List[Union[ringside.Response, ringside.Error]])
        assert_type(c.submit_batch([("POST", "/x", b""), {"path": "/y"}]), List[Union[int, ringside.Error]])
        assert_type(c.stats()["submitted"], int)

        c.request("POST", "/x", 42)  # type: ignore[arg-type]
        c.wait("ticket")  # type: ignore[arg-type]
        c.chat([{"role": "user"}], stream=True).json()  # type: ignore[attr-defined]

    try:
        pass
    except ringside.UpstreamError as e:
        assert_type(e.status, int)
        assert_type(e.response, Optional[ringside.Response])


async def use_async(c: ringside.Client, t: int) -> None:
    assert_type(await c.wait_async(t, timeout=1.0), ringside.Response)
    async with c.stream("POST", "/chat/completions", {"stream": True}) as s:
        async for chunk in s:
            assert_type(chunk.data, bytes)
    await asyncio.sleep(0)
