// graphql-ws (the graphql-transport-ws protocol): the token as `Authorization` in the
// connection_init payload; operations over HTTP for mutations.
'use strict';
const WebSocket = require('ws');
const { createClient } = require('graphql-ws');
const { WS_URL, TOKEN, http, scenario, run } = require('./common');

run(async () => {
  let protocol;
  const ws = createClient({
    url: WS_URL,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${TOKEN}` },
    on: { connected: (socket) => (protocol = socket.protocol) },
  });
  const result = await scenario({
    mutate: http,
    subscribe: (query, variables, sink) => ws.subscribe({ query, variables }, sink),
  });
  await ws.dispose();
  return { client: 'graphql-ws', protocol, ...result };
});
