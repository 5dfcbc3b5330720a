#!/usr/bin/env python3
"""A TCP proxy on loopback that adds latency, not bandwidth limits: every byte is delivered
DELAY_MS after it was received, in each direction, and a new connection waits one round trip
before it reaches the upstream (the TCP handshake). Usage: delay-proxy.py LISTEN_PORT
UPSTREAM_PORT ONE_WAY_DELAY_MS (RTT = 2 x the one-way delay). Used by scripts/bench-remote.sh."""
import asyncio
import sys
import time

listen, upstream, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000.0


async def pump(reader, writer):
    queue = asyncio.Queue()

    async def deliver():
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                break
            writer.write(data)
            await writer.drain()
        try:
            writer.close()
        except Exception:
            pass

    task = asyncio.create_task(deliver())
    try:
        while True:
            data = await reader.read(65536)
            queue.put_nowait((time.monotonic() + delay, data or None))
            if not data:
                break
    except Exception:
        queue.put_nowait((time.monotonic(), None))
    await task


async def handle(cr, cw):
    await asyncio.sleep(2 * delay)
    try:
        ur, uw = await asyncio.open_connection("127.0.0.1", upstream)
    except OSError:
        cw.close()
        return
    await asyncio.gather(pump(cr, uw), pump(ur, cw), return_exceptions=True)


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


asyncio.run(main())
