// Apollo Client with the split link integrators use: queries and mutations through an
// HttpLink (Bearer token), subscriptions through a GraphQLWsLink (graphql-ws, the token in
// connection_init). Every operation's route is recorded, to show which link carried it.
'use strict';
const WebSocket = require('ws');
const { createClient } = require('graphql-ws');
const {
  ApolloClient,
  ApolloLink,
  HttpLink,
  InMemoryCache,
  gql,
  split,
} = require('@apollo/client/core');
const { GraphQLWsLink } = require('@apollo/client/link/subscriptions');
const { getMainDefinition } = require('@apollo/client/utilities');
const { URL, WS_URL, TOKEN, scenario, run } = require('./common');

run(async () => {
  const routes = [];
  const via = (name) =>
    new ApolloLink((operation, forward) => {
      routes.push(`${operation.operationName} ${name}`);
      return forward(operation);
    });
  const ws = createClient({
    url: WS_URL,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${TOKEN}` },
  });
  const isSubscription = ({ query }) => {
    const definition = getMainDefinition(query);
    return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
  };
  const client = new ApolloClient({
    cache: new InMemoryCache(),
    link: split(
      isSubscription,
      via('websocket').concat(new GraphQLWsLink(ws)),
      via('http').concat(
        new HttpLink({ uri: URL + '/graphql', headers: { authorization: `Bearer ${TOKEN}` } })
      )
    ),
  });
  const result = await scenario({
    mutate: (mutation, variables) =>
      client
        .mutate({ mutation: gql(mutation), variables, fetchPolicy: 'no-cache' })
        .then(({ data }) => data),
    subscribe: (query, variables, sink) => {
      const subscription = client
        .subscribe({ query: gql(query), variables, fetchPolicy: 'no-cache' })
        .subscribe(sink);
      return () => subscription.unsubscribe();
    },
  });
  client.stop();
  await ws.dispose();
  return { client: 'apollo', routes: [...new Set(routes)], ...result };
});
