'use strict';
// Egress relay: the in-sandbox end of the service's egress proxy (see python/egress_relay.py for why):
// 127.0.0.1:proxy_port in, the job directory's unix socket out, bytes copied unchanged. It enforces
// nothing; the proxy outside does. Socket path, port and NO_PROXY come from protocol.json.
const fs = require('fs');
const net = require('net');

/**
 * Starts the relay; resolves with the proxy variables for the program ({} when there is no socket).
 * `settings` is protocol.json's `egress`: {proxy_port, no_proxy}.
 */
function start(socketPath, settings) {
  if (!fs.existsSync(socketPath)) return Promise.resolve({});
  const server = net.createServer((client) => {
    const proxy = net.connect(socketPath);
    const close = () => {
      client.destroy();
      proxy.destroy();
    };
    client.on('error', close);
    proxy.on('error', close);
    client.pipe(proxy);
    proxy.pipe(client);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.proxy_port, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${settings.proxy_port}`;
      const local = settings.no_proxy;
      resolve({
        HTTP_PROXY: url,
        HTTPS_PROXY: url,
        http_proxy: url,
        https_proxy: url,
        NO_PROXY: local,
        no_proxy: local,
      });
    });
  });
}

module.exports = { start };
