// Live chat: conversations by agent and channel with unread and manual-mode markers; the
// chosen one's messages arrive live (conversationMessages), each with its language and
// sentiment; take over / release, notes, reply as the manager, export as CSV. The agents'
// events (agentEvents) mark conversations that need a person and refresh the list at once.

import { gql, live } from './api.js';
import { h, $, when, badge, attempt, toast, here, fill } from './ui.js';
import { refreshHealth } from './health.js';

const LIST_PERIOD_MS = 3000;
const SEEN_KEY = 'switchboard-seen';
const MESSAGE = 'id position sequence role text originalText language sentiment delivery deliveryError author createdAt';
const CONVERSATION = 'id agentId integrationId channel remoteUserId remoteUserName manualMode lastRole lastMessageAt lastSequence failure';

let root;
let agents = [];
let selected = null;
let stopMessages = () => {};
let listTimer = null;
const seen = JSON.parse(localStorage.getItem(SEEN_KEY) || '{}');

function markSeen(id, sequence) {
  seen[id] = Math.max(seen[id] || 0, sequence);
  localStorage.setItem(SEEN_KEY, JSON.stringify(seen));
}

export async function mount(section) {
  root = section;
  const data = await attempt(() => gql('{ agents { id name } integrations { id name kind state agentId } health { sandbox } }'));
  if (!data) return;
  agents = data.agents;
  const agentFilter = h('select', { id: 'chat-agent', 'aria-label': 'Agent', onchange: () => refreshList() },
    h('option', { value: '' }, 'every agent'), ...agents.map((a) => h('option', { value: a.id }, a.name)));
  const channelFilter = h('select', { id: 'chat-channel', 'aria-label': 'Channel', onchange: () => refreshList() },
    ...['', 'telegram', 'whatsapp', 'instagram', 'sandbox'].map((c) => h('option', { value: c }, c || 'every channel')));
  const manualFilter = h('select', { id: 'chat-manual', 'aria-label': 'Mode', onchange: () => refreshList() },
    h('option', { value: '' }, 'agent and manual'), h('option', { value: 'true' }, 'manual only'), h('option', { value: 'false' }, 'agent only'));
  const sandbox = data.health.sandbox && data.integrations.some((i) => i.kind === 'SANDBOX')
    ? sandboxCustomer(data.integrations.filter((i) => i.kind === 'SANDBOX' && i.state === 'CONNECTED')) : null;
  section.append(
    h('h2', {}, 'Live chat'),
    h('div', { class: 'row' }, agentFilter, channelFilter, manualFilter),
    h('div', { class: 'split three' },
      h('div', { class: 'pane' }, h('h3', {}, 'Conversations'), h('div', { id: 'conversations', class: 'conversations' }), sandbox),
      h('div', { class: 'pane', id: 'conversation' }, h('p', { class: 'muted' }, 'Pick a conversation.')),
      h('div', { class: 'pane' }, h('h3', {}, 'Notes'), h('div', { id: 'notes' }, h('p', { class: 'muted' }, '—')),
        h('h3', {}, 'Agent events'), h('ul', { id: 'agent-events', class: 'events' }))));
  for (const agent of agents) followAgent(agent);
  refreshList();
}

/** In sandbox mode: play a customer writing to a sandbox channel. */
function sandboxCustomer(integrations) {
  if (!integrations.length) return null;
  const form = h('form', { id: 'sandbox-customer', onsubmit: async (event) => {
    event.preventDefault();
    const ok = await attempt(() => gql('mutation($i: ID!, $c: String!, $t: String!) { sandboxSendCustomerMessage(integrationId: $i, customer: $c, text: $t) }',
      { i: form.integration.value, c: form.customer.value, t: form.text.value }));
    if (ok) { form.text.value = ''; setTimeout(refreshList, 300); }
  } },
  h('h4', {}, 'Sandbox: write as a customer'),
  h('select', { name: 'integration', 'aria-label': 'Sandbox channel' }, ...integrations.map((i) => h('option', { value: i.id }, i.name))),
  h('input', { name: 'customer', value: 'Maria', size: 8, 'aria-label': 'Customer' }),
  h('input', { name: 'text', required: true, placeholder: 'Hello, is my order on its way?', 'aria-label': 'Customer message' }),
  h('button', { type: 'submit' }, 'Send'));
  return form;
}

function followAgent(agent) {
  const list = () => $('#agent-events', root);
  let last = null;
  live.subscribe('subscription($id: ID!, $after: Int) { agentEvents(agentId: $id, after: $after) { sequence kind conversationId integrationId detail at } }',
    () => ({ id: agent.id, after: last }), {
      next: ({ agentEvents: e }) => {
        last = e.sequence;
        list().prepend(h('li', { dataset: { kind: e.kind } }, badge(e.kind), ` ${agent.name} · ${when(e.at)} · ${e.detail}`));
        if (e.kind === 'INTEGRATION_STATE') refreshHealth();
        refreshList();
      },
    });
}

async function refreshList() {
  clearTimeout(listTimer);
  listTimer = setTimeout(refreshList, LIST_PERIOD_MS);
  const manual = $('#chat-manual', root).value;
  const vars = { agentId: $('#chat-agent', root).value || null, channel: $('#chat-channel', root).value || null, manualMode: manual ? manual === 'true' : null };
  let data;
  try {
    data = await gql(`query($agentId: ID, $channel: String, $manualMode: Boolean) {
      conversations(agentId: $agentId, channel: $channel, manualMode: $manualMode, first: 50) { nodes { ${CONVERSATION} } } }`, vars);
  } catch {
    return;
  }
  const agentName = (id) => agents.find((a) => a.id === id)?.name || 'agent';
  const items = data.conversations.nodes.map((c) => {
    const unread = c.id !== selected?.id && c.lastSequence > (seen[c.id] || 0);
    return h('div', { class: `conv${unread ? ' unread' : ''}${c.id === selected?.id ? ' selected' : ''}`, dataset: { conversation: c.id }, onclick: () => open(c) },
      h('div', {}, h('span', { class: 'who' }, c.remoteUserName || c.remoteUserId), ' ',
        c.manualMode ? h('span', { class: 'badge manual' }, 'MANUAL') : null,
        c.lastRole === 'USER' && c.manualMode ? h('span', { class: 'badge s-PENDING' }, 'waiting') : null,
        c.failure ? h('span', { class: 'badge s-FAILED', title: c.failure }, 'failed') : null),
      h('div', { class: 'muted' }, `${agentName(c.agentId)} · ${c.channel} · ${when(c.lastMessageAt)}`));
  });
  fill($('#conversations', root), ...(items.length ? items : [h('p', { class: 'muted' }, 'No conversations yet.')]));
  const current = data.conversations.nodes.find((c) => c.id === selected?.id);
  if (current && current.manualMode !== selected.manualMode) showMode(current);
}

function sentiment(value) {
  if (value === null || value === undefined) return null;
  const kind = value <= -0.3 ? 'neg' : value >= 0.3 ? 'pos' : '';
  return h('span', { class: `sentiment ${kind}`, title: 'Sentiment, −1 to 1' }, `sentiment ${value.toFixed(2)}`);
}

function messageEl(m) {
  return h('div', { class: `msg ${m.role}`, dataset: { position: m.position, role: m.role } },
    h('div', { class: 'text' }, m.text),
    m.originalText && m.originalText !== m.text ? h('div', { class: 'reason', title: 'As written' }, `“${m.originalText}”`) : null,
    h('div', { class: 'meta' }, h('span', {}, m.role === 'MANAGER' ? m.author || 'manager' : m.role.toLowerCase()),
      h('span', {}, when(m.createdAt)),
      m.language ? h('span', { class: 'lang', title: 'Detected language' }, m.language.toUpperCase()) : null,
      sentiment(m.sentiment),
      m.role !== 'USER' ? badge(m.delivery) : null,
      m.deliveryError ? h('span', { class: 'sentiment neg' }, m.deliveryError) : null));
}

function showMode(conversation) {
  selected.manualMode = conversation.manualMode;
  const toggle = $('#take-over', root);
  toggle.textContent = conversation.manualMode ? 'Release to agent' : 'Take over';
  toggle.className = conversation.manualMode ? 'quiet' : '';
  fill($('#mode', root), conversation.manualMode ? h('span', { class: 'badge manual' }, 'MANUAL: you answer') : h('span', { class: 'badge' }, 'agent answers'));
  $('#reply-form button', root).disabled = false;
}

async function open(conversation) {
  stopMessages();
  selected = { ...conversation };
  root.querySelectorAll('.conv').forEach((el) => el.classList.toggle('selected', el.dataset.conversation === conversation.id));
  const messages = h('div', { class: 'messages', id: 'messages' });
  const toggle = h('button', { id: 'take-over', onclick: async () => {
    const field = selected.manualMode ? 'releaseConversation' : 'takeOverConversation';
    const data = await attempt(() => gql(`mutation($id: ID!) { ${field}(id: $id) { ${CONVERSATION} } }`, { id: selected.id }));
    if (data) { showMode(data[field]); refreshList(); }
  } });
  const reply = h('form', { id: 'reply-form', class: 'row', onsubmit: async (event) => {
    event.preventDefault();
    const text = reply.text.value.trim();
    if (!text) return;
    const data = await attempt(() => gql(`mutation($id: ID!, $text: String!) { sendManagerMessage(id: $id, text: $text) { ${MESSAGE} } }`, { id: selected.id, text }));
    if (data) { reply.text.value = ''; add(data.sendManagerMessage); }
  } }, h('input', { name: 'text', placeholder: 'Reply as yourself…', 'aria-label': 'Reply', style: 'flex:1' }), h('button', { type: 'submit' }, 'Send'));
  const exportLink = h('button', { class: 'quiet', id: 'export', onclick: async () => {
    const data = await attempt(() => gql('query($id: ID!) { conversation(id: $id) { exportUrl } }', { id: selected.id }));
    if (data) location.assign(here(data.conversation.exportUrl));
  } }, 'Export CSV');
  fill($('#conversation', root), 
    h('div', { class: 'row' }, h('h3', {}, conversation.remoteUserName || conversation.remoteUserId), h('span', { id: 'mode' }),
      h('span', { class: 'muted' }, conversation.channel), toggle, exportLink),
    conversation.failure ? h('div', { class: 'error-box' }, conversation.failure) : null,
    messages, reply);
  showMode(conversation);

  const byPosition = new Map();
  let last = 0;
  function add(m) {
    last = Math.max(last, m.sequence);
    markSeen(conversation.id, m.sequence);
    const el = messageEl(m);
    const old = byPosition.get(m.position);
    if (old) old.replaceWith(el);
    else {
      const after = [...byPosition.keys()].filter((p) => p > m.position).sort((a, b) => a - b)[0];
      if (after) byPosition.get(after).before(el);
      else messages.append(el);
      messages.scrollTop = messages.scrollHeight;
    }
    byPosition.set(m.position, el);
  }
  stopMessages = live.subscribe(`subscription($id: ID!, $after: Int) { conversationMessages(conversationId: $id, after: $after) { ${MESSAGE} } }`,
    () => ({ id: conversation.id, after: last || null }), { next: (d) => add(d.conversationMessages), error: (e) => toast(e[0]?.message, 'error') });
  showNotes();
}

async function showNotes() {
  const id = selected.id;
  const data = await attempt(() => gql('query($id: ID!) { conversation(id: $id) { notes { id author text createdAt } } }', { id }));
  if (!data || selected?.id !== id) return;
  const form = h('form', { id: 'note-form', onsubmit: async (event) => {
    event.preventDefault();
    const text = form.text.value.trim();
    if (!text) return;
    const ok = await attempt(() => gql('mutation($id: ID!, $text: String!) { addConversationNote(id: $id, text: $text) { id } }', { id, text }));
    if (ok) showNotes();
  } }, h('textarea', { name: 'text', placeholder: 'A note for colleagues (the customer never sees it)', 'aria-label': 'Note' }), h('button', { type: 'submit' }, 'Add note'));
  fill($('#notes', root), 
    h('ul', { class: 'notes' }, ...data.conversation.notes.map((n) => h('li', {}, n.text, h('div', { class: 'muted' }, `${n.author} · ${when(n.createdAt)}`)))),
    form);
}
