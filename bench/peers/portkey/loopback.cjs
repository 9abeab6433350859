// Preloaded into the Portkey gateway (node --require) by bench/peers/peers.py.
//
// The gateway has no bind flag: @hono/node-server calls
// server.listen(port, undefined), which listens on every interface. The
// benchmark's rule is 127.0.0.1 only, so every TCP listen is moved there.
// And it must never send traffic anywhere but the local mock upstream, so
// an outgoing TCP connection to any other address is refused (the gateway
// ships plugins that call api.portkey.ai; none is configured here, and
// this makes sure of it).
'use strict';
const net = require('net');

const LOOPBACK = '127.0.0.1';
const isLoopback = (h) => h === LOOPBACK || h === 'localhost' || h === '::1';

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (args.length && typeof args[0] === 'object' && args[0] !== null && !Array.isArray(args[0])) {
    if (args[0].path === undefined)
      args[0] = { ...args[0], host: LOOPBACK };
  } else if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]))) {
    // listen(port[, host][, backlog][, cb]): put the host in second place
    if (typeof args[1] === 'string' || args[1] === undefined || args[1] === null)
      args[1] = LOOPBACK;
    else
      args.splice(1, 0, LOOPBACK);
  }
  return listen.apply(this, args);
};

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  let opts = args[0];
  if (Array.isArray(opts))          // node's internal normalized form
    opts = opts[0];
  let host;
  if (opts && typeof opts === 'object')
    host = opts.path !== undefined ? null : (opts.host || 'localhost');
  else if (typeof opts === 'number' || typeof opts === 'string' && /^\d+$/.test(opts))
    host = typeof args[1] === 'string' ? args[1] : 'localhost';
  else
    host = null;                    // a Unix socket path
  if (host !== null && !isLoopback(host)) {
    const err = new Error(`bench/peers: refused a connection to ${host} (127.0.0.1 only)`);
    process.nextTick(() => this.destroy(err));
    return this;
  }
  return connect.apply(this, args);
};
