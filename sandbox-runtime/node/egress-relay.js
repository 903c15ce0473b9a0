'use strict';
// Egress relay: the in-sandbox end of the service's egress proxy (see python/egress_relay.py for why):
// 127.0.0.1:PROXY_PORT in, the job directory's unix socket out, bytes copied unchanged. It enforces
// nothing; the proxy outside does.
const fs = require('fs');
const net = require('net');

const SOCKET_PATH = '/sandbox/job/egress.sock';
const PROXY_PORT = 3128;

/** Starts the relay; resolves with the proxy variables for the program ({} when there is no socket). */
function start() {
  if (!fs.existsSync(SOCKET_PATH)) return Promise.resolve({});
  const server = net.createServer((client) => {
    const proxy = net.connect(SOCKET_PATH);
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
    server.listen(PROXY_PORT, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${PROXY_PORT}`;
      const local = 'localhost,127.0.0.1,::1';
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
