// Broadcasts: one message to many recipients through one of an agent's channels, pasted or
// read from a file; its progress live (broadcastProgress), cancel while it sends.

import { gql, live } from './api.js';
import { h, $, fill, when, badge, attempt, toast, showFieldErrors } from './ui.js';

const FINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);
const PROGRESS = 'sequence status total counts { pending sending sent failed unknown } rate etaSeconds failure at';
const BROADCAST = `id agentId integrationId channel message status total failure createdBy scheduledAt startedAt finishedAt createdAt sequence progress { ${PROGRESS} }`;

let root;
let agents = [];
let stopProgress = () => {};

export async function mount(section) {
  root = section;
  const data = await attempt(() => gql('{ agents { id name } integrations { id name kind state agentId } }'));
  if (!data) return;
  agents = data.agents;
  const integrations = data.integrations.filter((i) => i.state === 'CONNECTED');
  const agent = h('select', { name: 'agent', 'aria-label': 'Agent', onchange: () => { channels(); list(); } },
    ...agents.map((a) => h('option', { value: a.id }, a.name)));
  const channel = h('select', { name: 'integration', 'aria-label': 'Channel', 'data-field': 'integrationId' });
  const channels = () => fill(channel, integrations.filter((i) => i.agentId === agent.value).map((i) => h('option', { value: i.id }, `${i.name} (${i.kind})`)));
  const recipients = h('textarea', { name: 'recipients', 'data-field': 'recipients', placeholder: 'One recipient a line (or commas): chat ids, E.164 numbers, Instagram ids', rows: 5 });
  const counted = h('span', { class: 'muted', id: 'recipient-count' }, '0 recipients');
  const parse = () => [...new Set(recipients.value.split(/[\n,;]+/).map((r) => r.trim().replace(/^"|"$/g, '')).filter(Boolean))];
  recipients.addEventListener('input', () => { counted.textContent = `${parse().length} recipients`; });
  const file = h('input', { type: 'file', accept: '.txt,.csv,text/plain,text/csv', 'aria-label': 'Recipients file', onchange: async () => {
    recipients.value = (await file.files[0].text()).split('\n').map((line) => line.split(',')[0]).join('\n');
    recipients.dispatchEvent(new Event('input'));
  } });
  const form = h('form', { id: 'broadcast-form', class: 'pane', onsubmit: async (event) => {
    event.preventDefault();
    const input = { agentId: agent.value, integrationId: channel.value, message: form.elements.message.value, recipients: parse() };
    if (form.elements.scheduledAt.value) input.scheduledAt = new Date(form.elements.scheduledAt.value).toISOString();
    try {
      const made = (await gql(`mutation($input: CreateBroadcastInput!) { createBroadcast(input: $input) { id } }`, { input })).createBroadcast;
      showFieldErrors(form, null);
      toast(`Broadcast to ${input.recipients.length} recipients created`);
      list();
      open(made.id);
    } catch (err) {
      showFieldErrors(form, err);
    }
  } },
  h('h3', {}, 'New broadcast'),
  h('div', { class: 'row' }, agent, channel),
  h('label', { class: 'block' }, 'Message', h('textarea', { name: 'message', required: true, 'data-field': 'message' })),
  h('label', { class: 'block' }, 'Recipients', recipients),
  h('div', { class: 'row' }, file, counted),
  h('div', { class: 'row' }, h('label', {}, 'Send at (optional)', h('input', { type: 'datetime-local', name: 'scheduledAt', 'data-field': 'scheduledAt' })),
    h('button', { type: 'submit' }, 'Create broadcast')));
  section.append(h('h2', {}, 'Broadcasts'), h('div', { class: 'split' }, h('div', {}, form,
    h('div', { class: 'pane' }, h('h3', {}, 'This agent\'s broadcasts'), h('table', { class: 'list', id: 'broadcast-list' }, h('tbody')))),
  h('div', { class: 'pane', id: 'broadcast-detail' }, h('p', { class: 'muted' }, 'Create a broadcast or pick one.'))));
  if (agents.length) { channels(); list(); }
}

async function list() {
  const agentId = $('#broadcast-form [name=agent]', root).value;
  const data = await attempt(() => gql(`query($a: ID!) { broadcasts(agentId: $a, first: 20) { nodes { id message status total createdAt } } }`, { a: agentId }));
  if (!data) return;
  fill($('#broadcast-list tbody', root), data.broadcasts.nodes.map((b) => h('tr', { onclick: () => open(b.id), dataset: { broadcast: b.id } },
    h('td', { class: 'status' }, badge(b.status)), h('td', { class: 'url' }, b.message), h('td', {}, String(b.total)), h('td', { class: 'muted' }, when(b.createdAt)))));
}

function bar(p) {
  const pct = (n) => `${(100 * n) / Math.max(p.total, 1)}%`;
  return h('div', { class: 'progress', title: `${p.counts.sent} sent, ${p.counts.failed} failed, ${p.counts.sending} sending, ${p.counts.pending} pending` },
    h('span', { class: 'sent', style: `width:${pct(p.counts.sent)}` }), h('span', { class: 'failed', style: `width:${pct(p.counts.failed + p.counts.unknown)}` }),
    h('span', { class: 'sending', style: `width:${pct(p.counts.sending)}` }));
}

async function open(id) {
  stopProgress();
  const data = await attempt(() => gql(`query($id: ID!) { broadcast(id: $id) { ${BROADCAST} } }`, { id }));
  if (!data) return;
  const b = data.broadcast;
  const status = h('div', { id: 'broadcast-progress' });
  const cancel = h('button', { class: 'danger', id: 'broadcast-cancel', onclick: () => attempt(() => gql('mutation($id: ID!) { cancelBroadcast(id: $id) { id } }', { id })) }, 'Cancel');
  const failures = h('div', { id: 'broadcast-failures' });
  fill($('#broadcast-detail', root), h('h3', {}, `To ${b.total} on ${b.channel}`), h('p', {}, b.message),
    h('p', { class: 'muted' }, `by ${b.createdBy} · created ${when(b.createdAt)}${b.scheduledAt ? ` · scheduled ${when(b.scheduledAt)}` : ''}`),
    status, FINAL.has(b.status) ? null : cancel, failures);
  let last = 0;
  const show = (p) => {
    last = Math.max(last, p.sequence);
    const row = root.querySelector(`#broadcast-list tr[data-broadcast="${id}"] .status`);
    if (row) fill(row, badge(p.status));
    fill(status, h('div', { class: 'row' }, badge(p.status), h('span', {}, `${p.counts.sent}/${p.total} sent`),
      p.counts.failed ? h('span', { class: 'sentiment neg' }, `${p.counts.failed} failed`) : null,
      p.counts.unknown ? h('span', { class: 'sentiment neg' }, `${p.counts.unknown} unknown`) : null,
      h('span', { class: 'muted' }, `${p.rate.toFixed(1)}/s`), p.etaSeconds ? h('span', { class: 'muted' }, `ETA ${Math.ceil(p.etaSeconds)} s`) : null),
    bar(p), p.failure ? h('div', { class: 'error-box' }, p.failure) : null);
    if (FINAL.has(p.status)) { cancel.remove(); if (p.counts.failed) showFailures(id, failures); }
  };
  show(b.progress);
  if (!FINAL.has(b.status)) {
    stopProgress = live.subscribe(`subscription($id: ID!, $after: Int) { broadcastProgress(broadcastId: $id, after: $after) { ${PROGRESS} } }`,
      () => ({ id, after: last || null }), { next: (d) => show(d.broadcastProgress), error: (e) => toast(e[0]?.message, 'error') });
  } else if (b.progress.counts.failed) showFailures(id, failures);
}

async function showFailures(id, el) {
  const data = await attempt(() => gql('query($id: ID!) { broadcast(id: $id) { recipients(status: FAILED, first: 20) { nodes { recipient attempts error } } } }', { id }));
  if (!data) return;
  fill(el, h('h4', {}, 'Failed recipients'), h('ul', {}, data.broadcast.recipients.nodes.map((r) => h('li', {}, `${r.recipient}: ${r.error || 'failed'} (${r.attempts} attempts)`))));
}
