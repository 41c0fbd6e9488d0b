// The header's health indicator: HEALTHY / DEGRADED / UNHEALTHY with the channels connected
// and the Telegram bots running. The schema has no health subscription, so it is read every
// few seconds, and at once whenever something live says an integration changed. It is public
// and server-wide, so it is asked without the token: a refused token does not hide it.

import { gql } from './api.js';
import { h, $, fill } from './ui.js';

const QUERY = `{ health { status sandbox database version
  integrations { kind total connected } activeAgents totalAgents } }`;
const PERIOD_MS = 4000;

let timer = null;
let last = null;

export async function refreshHealth() {
  clearTimeout(timer);
  timer = setTimeout(refreshHealth, PERIOD_MS);
  const el = $('#health');
  let health;
  try {
    health = (await gql(QUERY, {}, { anonymous: true })).health;
  } catch (err) {
    health = { status: 'UNHEALTHY', error: err.message, integrations: [] };
  }
  const sum = (pick) => health.integrations.reduce((n, c) => n + pick(c), 0);
  const telegram = health.integrations.find((c) => c.kind === 'TELEGRAM') || { total: 0, connected: 0 };
  const down = health.integrations.filter((c) => c.connected < c.total).map((c) => `${c.kind} ${c.connected}/${c.total}`);
  if (last !== health.status) {
    // Kept on the element so a glance (or a test) sees each change, however brief.
    el.dataset.seen = [el.dataset.seen, health.status].filter(Boolean).join(' ');
    last = health.status;
  }
  el.className = `health ${health.status}`;
  el.dataset.status = health.status;
  el.title = health.error || (down.length ? `Not up: ${down.join(', ')}` : 'Every channel meant to be up is');
  fill(el, 
    h('b', { class: 'status' }, health.status),
    h('span', { class: 'count', id: 'health-channels' }, `${sum((c) => c.connected)}/${sum((c) => c.total)} channels connected`),
    h('span', { class: 'count', id: 'health-bots' }, `${telegram.connected}/${telegram.total} Telegram bots running`),
    health.activeAgents !== undefined ? h('span', { class: 'count' }, `${health.activeAgents}/${health.totalAgents} agents active`) : null,
    health.sandbox ? h('span', { class: 'badge sandbox', title: 'Simulated providers: nothing leaves this machine' }, 'SANDBOX') : null,
  );
}
