"""Egress relay: the in-sandbox end of the service's egress proxy.

A sandbox has no network interface but loopback. When the server allows egress, the host puts a unix
socket into the job directory (served by the service's egress proxy, which knows the execution by the
socket alone). Programs and their libraries only speak to proxies over TCP (HTTP_PROXY=http://...), so
the launcher runs this relay: 127.0.0.1:proxy_port in, the unix socket out, bytes copied unchanged.
Socket path, port and NO_PROXY come from protocol.json (paths.egress_socket, egress).
It enforces nothing — the proxy outside does — so a program that talks to the socket directly gains
nothing. Started by the launcher before the program process exists; runs in a daemon thread.
"""

import os
import threading

READ_SIZE = 65536


def start(socket_path, settings):
    """Starts the relay and returns the proxy variables for the program; {} when there is no socket."""
    if not os.path.exists(socket_path):
        return {}
    # Imported only here: sandboxes without egress do not pay for asyncio at boot.
    import asyncio

    async def copy(reader, writer):
        try:
            while True:
                chunk = await reader.read(READ_SIZE)
                if not chunk:
                    break
                writer.write(chunk)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            writer.close()

    async def relay(client_reader, client_writer):
        try:
            proxy_reader, proxy_writer = await asyncio.open_unix_connection(socket_path)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(copy(client_reader, proxy_writer), copy(proxy_reader, client_writer))
        proxy_writer.close()
        client_writer.close()

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(asyncio.start_server(relay, "127.0.0.1", settings["proxy_port"]))
    threading.Thread(target=loop.run_until_complete, args=(server.serve_forever(),), daemon=True).start()
    url = f"http://127.0.0.1:{settings['proxy_port']}"
    local = settings["no_proxy"]
    return {"HTTP_PROXY": url, "HTTPS_PROXY": url, "http_proxy": url, "https_proxy": url, "NO_PROXY": local, "no_proxy": local}
