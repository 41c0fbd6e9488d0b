// The GraphiQL page: queries and mutations POSTed to /graphql, subscriptions over
// /graphql/ws (graphql-transport-ws), both with the token kept in localStorage (the same
// key as the dashboard's, so a token entered in either serves both).
(function () {
  'use strict';
  var TOKEN_KEY = 'switchboard-token';
  var input = document.getElementById('token');
  var state = document.getElementById('token-state');

  function token() {
    return (localStorage.getItem(TOKEN_KEY) || '').trim();
  }

  // Sent as HTTP headers and, the same, as the WebSocket's connection_init payload.
  function credentials() {
    return token() ? { Authorization: 'Bearer ' + token() } : {};
  }

  function showState() {
    state.textContent = token()
      ? 'saved in this browser, sent as Authorization: Bearer'
      : 'none: only health answers';
  }

  var socket = null;
  function websocket() {
    if (!socket) {
      var scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
      socket = graphqlWs.createClient({
        url: scheme + '//' + location.host + '/graphql/ws',
        connectionParams: credentials,
        lazy: true,
      });
    }
    return socket;
  }

  // A new token takes effect on the next connection: the open one is closed.
  function useToken(value) {
    if (value) localStorage.setItem(TOKEN_KEY, value);
    else localStorage.removeItem(TOKEN_KEY);
    if (socket) {
      socket.dispose();
      socket = null;
    }
    input.value = value;
    showState();
  }

  document.getElementById('token-bar').addEventListener('submit', function (event) {
    event.preventDefault();
    useToken(input.value.trim());
  });
  document.getElementById('forget').addEventListener('click', function () {
    useToken('');
  });
  input.value = token();
  showState();

  // The operation GraphiQL runs: the one named, or the document's only one.
  function isSubscription(params, document) {
    var operations = ((document && document.definitions) || []).filter(function (d) {
      return d.kind === 'OperationDefinition';
    });
    var chosen = operations.find(function (d) {
      return params.operationName ? d.name && d.name.value === params.operationName : true;
    });
    return !!chosen && chosen.operation === 'subscription';
  }

  // A socket closed on us (4403: the token was refused) is shown as the error it is.
  function closeError(error) {
    if (error && typeof error.code === 'number') {
      return new Error('WebSocket closed: ' + error.code + ' ' + (error.reason || ''));
    }
    return error instanceof Error ? error : new Error(String(error));
  }

  function fetcher(params, options) {
    var headers = (options && options.headers) || {};
    if (isSubscription(params, options && options.documentAST)) {
      return {
        subscribe: function (observer) {
          var stop = websocket().subscribe(params, {
            next: function (value) { observer.next(value); },
            error: function (error) { observer.error(closeError(error)); },
            complete: function () { observer.complete(); },
          });
          return { unsubscribe: stop };
        },
      };
    }
    return fetch('/graphql', {
      method: 'POST',
      headers: Object.assign(
        { 'content-type': 'application/json', accept: 'application/json' },
        credentials(),
        headers
      ),
      body: JSON.stringify(params),
    }).then(function (response) {
      return response.json();
    });
  }

  var tabs = window.switchboard.examples.map(function (example) {
    return { query: example.query, variables: JSON.stringify(example.variables, null, 2) };
  });
  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultTabs: tabs,
      defaultEditorToolsVisibility: 'variables',
    })
  );
})();
