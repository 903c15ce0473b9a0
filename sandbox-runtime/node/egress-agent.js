'use strict';
// Makes Node's own clients (http.get, https.get and libraries built on the global agents) use the
// egress proxy named by HTTP_PROXY / HTTPS_PROXY, as pip, requests, urllib and curl do by themselves:
// Node before 24 ignores those variables. Every connection goes through a CONNECT tunnel (TLS stays
// end to end); when the proxy refuses, the error says why. Enforces nothing: the proxy outside does.
// Installed by runner.js before the program (and its preloads) load; a no-op without the variables,
// which then loads nothing: http, https and tls cost ~30-50 ms of a sandbox's boot to compile (Debian's
// Node.js has no code cache), and most programs never use them.

const MAX_RESPONSE_HEAD_BYTES = 16 * 1024;

/** NO_PROXY semantics as curl: exact host, or a suffix given as "example.com" / ".example.com"; "*" = all. */
function bypassed(host, noProxy) {
  const name = String(host || '')
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  return noProxy
    .split(',')
    .map((entry) => entry.trim().toLowerCase())
    .filter(Boolean)
    .some(
      (entry) =>
        entry === '*' || name === entry.replace(/^\./, '') || name.endsWith(`.${entry.replace(/^\./, '')}`),
    );
}

/** Opens a tunnel to host:port through the proxy; calls back with the raw socket or the refusal. */
function tunnel(proxy, host, port, callback) {
  const net = require('net');
  const socket = net.connect(Number(proxy.port) || 80, proxy.hostname);
  const authority = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
  let head = Buffer.alloc(0);
  const fail = (error) => {
    socket.destroy();
    callback(error);
  };
  const onData = (chunk) => {
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) {
      if (head.length > MAX_RESPONSE_HEAD_BYTES) fail(new Error('egress proxy: response head too large'));
      return;
    }
    socket.off('data', onData);
    socket.off('error', fail);
    const statusLine = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
    if (/^HTTP\/1\.[01] 200/.test(statusLine)) {
      const rest = head.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      callback(null, socket);
      return;
    }
    const body = head
      .subarray(end + 4)
      .toString('utf8')
      .trim();
    fail(new Error(`egress to ${authority} refused by the proxy (${statusLine})${body ? `: ${body}` : ''}`));
  };
  socket.on('data', onData);
  socket.on('error', fail);
  socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
}

function install(env) {
  const httpProxy = env.HTTP_PROXY || env.http_proxy;
  const httpsProxy = env.HTTPS_PROXY || env.https_proxy || httpProxy;
  if (!httpProxy && !httpsProxy) return;
  const noProxy = env.NO_PROXY || env.no_proxy || '';
  const http = require('http');
  const https = require('https');
  const net = require('net');
  const tls = require('tls');

  class ProxyHttpAgent extends http.Agent {
    createConnection(options, callback) {
      const host = options.host || 'localhost';
      if (!httpProxy || bypassed(host, noProxy)) return super.createConnection(options, callback);
      tunnel(new URL(httpProxy), host, options.port || 80, callback);
      return undefined;
    }
  }

  class ProxyHttpsAgent extends https.Agent {
    createConnection(options, callback) {
      const host = options.host || 'localhost';
      if (!httpsProxy || bypassed(host, noProxy)) return super.createConnection(options, callback);
      tunnel(new URL(httpsProxy), host, options.port || 443, (error, socket) => {
        if (error) return callback(error);
        const servername = options.servername || (net.isIP(host) ? undefined : host);
        callback(null, tls.connect({ ...options, socket, servername }));
      });
      return undefined;
    }
  }

  http.globalAgent = new ProxyHttpAgent();
  https.globalAgent = new ProxyHttpsAgent();
}

module.exports = { install };
