// graphql-sse in its "distinct connections" mode (the server's): each subscription its own
// POST to /graphql/sse with the token as `Authorization`; mutations over HTTP.
'use strict';
const { createClient } = require('graphql-sse');
const { URL, TOKEN, http, scenario, run } = require('./common');

run(async () => {
  const sse = createClient({
    url: URL + '/graphql/sse',
    headers: { Authorization: `Bearer ${TOKEN}` },
    retryAttempts: 0,
  });
  const result = await scenario({
    mutate: http,
    subscribe: (query, variables, sink) => sse.subscribe({ query, variables }, sink),
  });
  sse.dispose();
  return { client: 'graphql-sse', ...result };
});
