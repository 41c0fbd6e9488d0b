// The server's public API, and nothing else: GraphQL over HTTP POST /graphql, and
// subscriptions over /graphql/ws speaking graphql-transport-ws. The token is pasted once
// and kept in localStorage.

const TOKEN_KEY = 'switchboard-token';

export const token = {
  get: () => localStorage.getItem(TOKEN_KEY) || '',
  set(value) {
    localStorage.setItem(TOKEN_KEY, value.trim().replace(/^Bearer\s+/i, ''));
    live.restart();
  },
  clear() {
    localStorage.removeItem(TOKEN_KEY);
    live.restart();
  },
};

/** A GraphQL answer's errors, each with its `extensions.code`. */
export class GraphQLError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join('; '));
    this.errors = errors;
    this.code = errors[0]?.extensions?.code;
  }
}

/**
 * Runs one operation; resolves to its `data`, rejects with a GraphQLError. `anonymous` leaves
 * the token out (a refused token refuses the whole request, public fields included).
 */
export async function gql(query, variables = {}, { anonymous = false } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (token.get() && !anonymous) headers.authorization = `Bearer ${token.get()}`;
  const res = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = await res.json().catch(() => ({ errors: [{ message: `HTTP ${res.status}` }] }));
  if (body.errors?.length) throw new GraphQLError(body.errors);
  return body.data;
}

/**
 * graphql-transport-ws over one WebSocket, kept open while there is a token (the header
 * shows its state), authenticated in connection_init, reopened with a growing pause when it
 * drops. Each subscription is sent
 * again on a new socket with the variables its `variables()` gives then, so a caller passes
 * `after: <last sequence seen>` and misses nothing.
 */
class Live {
  constructor() {
    this.subs = new Map();
    this.nextId = 1;
    this.socket = null;
    this.acked = false;
    this.retry = 0;
    this.listeners = new Set();
  }

  /** `onState(state)` hears 'connecting', 'open', 'closed'. */
  onState(listener) { this.listeners.add(listener); }
  setState(state) { this.state = state; this.listeners.forEach((l) => l(state)); }

  /** Subscribes; `variables` is an object or a function giving one. Returns a stop function. */
  subscribe(query, variables, { next, error = () => {}, complete = () => {} }) {
    const id = String(this.nextId++);
    const vars = typeof variables === 'function' ? variables : () => variables;
    this.subs.set(id, { query, vars, next, error, complete });
    if (this.acked) this.send(id);
    else this.open();
    return () => {
      if (!this.subs.delete(id)) return;
      if (this.acked) this.socket.send(JSON.stringify({ id, type: 'complete' }));
    };
  }

  send(id) {
    const sub = this.subs.get(id);
    this.socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query: sub.query, variables: sub.vars() } }));
  }

  open() {
    if (this.socket || !token.get()) return;
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql/ws`;
    const socket = new WebSocket(url, 'graphql-transport-ws');
    this.socket = socket;
    this.setState('connecting');
    socket.onopen = () => socket.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${token.get()}` } }));
    socket.onmessage = (event) => this.receive(JSON.parse(event.data));
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.acked = false;
      this.setState('closed');
      if (event.code === 4403) {
        for (const sub of this.subs.values()) sub.error([{ message: 'the token was refused: paste a valid one' }]);
        return;
      }
      setTimeout(() => this.open(), Math.min(500 * 2 ** this.retry++, 10000));
    };
  }

  receive(message) {
    const sub = this.subs.get(message.id);
    switch (message.type) {
      case 'connection_ack':
        this.acked = true;
        this.retry = 0;
        this.setState('open');
        for (const id of this.subs.keys()) this.send(id);
        break;
      case 'ping':
        this.socket.send(JSON.stringify({ type: 'pong' }));
        break;
      case 'next':
        if (!sub) break;
        if (message.payload.errors?.length) sub.error(message.payload.errors);
        else sub.next(message.payload.data);
        break;
      case 'error':
        if (sub) { this.subs.delete(message.id); sub.error(message.payload); }
        break;
      case 'complete':
        if (sub) { this.subs.delete(message.id); sub.complete(); }
        break;
    }
  }

  /** A new token: close, and open again with it if anything is followed. */
  restart() {
    const socket = this.socket;
    this.socket = null;
    this.acked = false;
    if (socket) socket.close(1000);
    this.open();
  }
}

export const live = new Live();
