// subscriptions-transport-ws, Apollo's legacy client (the `graphql-ws` subprotocol): the
// token as `token` in the connection_init payload; mutations over HTTP.
'use strict';
const WebSocket = require('ws');
const { SubscriptionClient } = require('subscriptions-transport-ws');
const { WS_URL, TOKEN, http, scenario, run } = require('./common');

run(async () => {
  const ws = new SubscriptionClient(
    WS_URL,
    { connectionParams: { token: TOKEN }, reconnect: false, lazy: true },
    WebSocket
  );
  const result = await scenario({
    mutate: http,
    subscribe: (query, variables, sink) => {
      const subscription = ws.request({ query, variables }).subscribe(sink);
      return () => subscription.unsubscribe();
    },
  });
  const protocol = ws.client && ws.client.protocol;
  ws.close();
  return { client: 'subscriptions-transport-ws', protocol, ...result };
});
