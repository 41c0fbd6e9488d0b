// Agents and channels: create and edit an agent and its settings (working hours,
// translation, sentiment, follow-ups), with the server's validation errors by the field;
// connect, disconnect and reconnect its channels, a WhatsApp device showing its QR code.

import { gql, live } from './api.js';
import { h, $, fill, when, badge, attempt, toast, showFieldErrors } from './ui.js';
import { refreshHealth } from './health.js';

const DAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
const SETTINGS = `workingHours { enabled timezone awayMessage schedule { ${DAYS.map((d) => `${d} { start end }`).join(' ')} } }
  translation { enabled sourceLanguage autoDetect translateIncoming translateOutgoing }
  sentiment { enabled alertOnNegative negativeThreshold escalateOnVeryNegative }
  followUp { enabled delayMinutes maxFollowUps onlyIfNoReply messages }`;
const AGENT = `id name model hasApiKey baseUrl systemPrompt isActive createdAt settings { ${SETTINGS} }`;
const INTEGRATION = 'id agentId kind name identity mode state sessionStatus stateReason updatedAt';
const KINDS = {
  SANDBOX: [],
  TELEGRAM: [['telegram', 'botToken', 'Bot token (from @BotFather)', true]],
  WHATSAPP_CLOUD: [['whatsappCloud', 'phoneNumberId', 'Phone number id', true], ['whatsappCloud', 'accessToken', 'Access token', true],
    ['whatsappCloud', 'appSecret', 'App secret', true], ['whatsappCloud', 'verifyToken', 'Verify token', true]],
  INSTAGRAM: [['instagram', 'accountId', 'Account id', true], ['instagram', 'accessToken', 'Access token', true],
    ['instagram', 'appSecret', 'App secret (optional)'], ['instagram', 'verifyToken', 'Verify token (optional)']],
  WHATSAPP_DEVICE: [['whatsappDevice', 'wahaBaseUrl', 'WAHA URL (optional)'], ['whatsappDevice', 'wahaApiKey', 'WAHA API key (optional)']],
};

let root;
let current = null;
let stopEvents = () => {};

export function mount(section) {
  root = section;
  section.append(h('h2', {}, 'Agents & channels'),
    h('div', { class: 'split' },
      h('div', { class: 'pane' }, h('div', { class: 'row' }, h('h3', {}, 'Agents'), h('button', { id: 'new-agent', onclick: () => edit(null) }, 'New agent')),
        h('table', { class: 'list', id: 'agent-list' }, h('tbody'))),
      h('div', { class: 'pane', id: 'agent-detail' }, h('p', { class: 'muted' }, 'Pick an agent, or make a new one.'))));
  list();
}

async function list() {
  const data = await attempt(() => gql('{ agents { id name isActive model } }'));
  if (!data) return;
  fill($('#agent-list tbody', root), data.agents.map((a) => h('tr', { onclick: () => edit(a.id), dataset: { agent: a.id } },
    h('td', {}, a.name), h('td', {}, a.isActive ? badge('ACTIVE', 's-DONE') : badge('PAUSED')), h('td', { class: 'muted' }, a.model || 'default model'))));
}

const check = (label, field, value) => h('label', {}, h('input', { type: 'checkbox', name: field, checked: !!value }), label);
const text = (label, field, value, attrs = {}) => h('label', {}, label, h('input', { name: field, value: value ?? '', ...attrs }));

function settingsFields(s) {
  const wh = s.workingHours;
  return [
    h('fieldset', {}, h('legend', {}, 'Working hours'),
      check('Answer only in working hours', 'wh.enabled', wh.enabled),
      text('Time zone', 'wh.timezone', wh.timezone, { 'data-field': 'settings.working_hours.timezone', size: 16 }),
      h('div', { class: 'row' }, ...DAYS.map((d) => h('label', { class: 'block' }, d.slice(0, 3),
        h('input', { name: `wh.${d}.start`, value: wh.schedule[d]?.start ?? '', placeholder: 'closed', size: 5, 'data-field': `settings.working_hours.schedule.${d}.start` }),
        h('input', { name: `wh.${d}.end`, value: wh.schedule[d]?.end ?? '', size: 5, 'data-field': `settings.working_hours.schedule.${d}.end` })))),
      h('label', { class: 'block' }, 'Away message', h('textarea', { name: 'wh.awayMessage', 'data-field': 'settings.working_hours.away_message' }, wh.awayMessage))),
    h('fieldset', {}, h('legend', {}, 'Translation'),
      check('Translate', 'tr.enabled', s.translation.enabled),
      text('Agent language', 'tr.sourceLanguage', s.translation.sourceLanguage, { size: 3, 'data-field': 'settings.translation.source_language' }),
      check('Detect the customer\'s language', 'tr.autoDetect', s.translation.autoDetect),
      check('Incoming', 'tr.translateIncoming', s.translation.translateIncoming),
      check('Outgoing', 'tr.translateOutgoing', s.translation.translateOutgoing)),
    h('fieldset', {}, h('legend', {}, 'Sentiment'),
      check('Score messages', 'se.enabled', s.sentiment.enabled),
      check('Alert on negative', 'se.alertOnNegative', s.sentiment.alertOnNegative),
      text('Negative at or under −', 'se.negativeThreshold', s.sentiment.negativeThreshold, { size: 4, 'data-field': 'settings.sentiment.negative_threshold' }),
      check('Hand very negative ones to a person', 'se.escalateOnVeryNegative', s.sentiment.escalateOnVeryNegative)),
    h('fieldset', {}, h('legend', {}, 'Follow-ups'),
      check('Send follow-ups', 'fu.enabled', s.followUp.enabled),
      text('After (minutes)', 'fu.delayMinutes', s.followUp.delayMinutes, { size: 5, 'data-field': 'settings.follow_up.delay_minutes' }),
      text('At most', 'fu.maxFollowUps', s.followUp.maxFollowUps, { size: 3, 'data-field': 'settings.follow_up.max_follow_ups' }),
      check('Only if the customer has not answered', 'fu.onlyIfNoReply', s.followUp.onlyIfNoReply),
      h('label', { class: 'block' }, 'Messages, one a line', h('textarea', { name: 'fu.messages', 'data-field': 'settings.follow_up.messages' }, s.followUp.messages.join('\n')))),
  ];
}

function readSettings(f) {
  const v = (name) => f.elements[name].value;
  const c = (name) => f.elements[name].checked;
  const schedule = {};
  for (const d of DAYS) schedule[d] = v(`wh.${d}.start`).trim() || v(`wh.${d}.end`).trim() ? { start: v(`wh.${d}.start`), end: v(`wh.${d}.end`) } : null;
  return {
    workingHours: { enabled: c('wh.enabled'), timezone: v('wh.timezone'), schedule, awayMessage: v('wh.awayMessage') },
    translation: { enabled: c('tr.enabled'), sourceLanguage: v('tr.sourceLanguage'), autoDetect: c('tr.autoDetect'), translateIncoming: c('tr.translateIncoming'), translateOutgoing: c('tr.translateOutgoing') },
    sentiment: { enabled: c('se.enabled'), alertOnNegative: c('se.alertOnNegative'), negativeThreshold: Number(v('se.negativeThreshold')), escalateOnVeryNegative: c('se.escalateOnVeryNegative') },
    followUp: { enabled: c('fu.enabled'), delayMinutes: parseInt(v('fu.delayMinutes'), 10) || 0, maxFollowUps: parseInt(v('fu.maxFollowUps'), 10) || 0,
      onlyIfNoReply: c('fu.onlyIfNoReply'), messages: v('fu.messages').split('\n').map((m) => m.trim()).filter(Boolean) },
  };
}

const DEFAULTS = { workingHours: { enabled: false, timezone: 'UTC', awayMessage: '', schedule: {} },
  translation: { enabled: false, sourceLanguage: 'en', autoDetect: true, translateIncoming: true, translateOutgoing: true },
  sentiment: { enabled: true, alertOnNegative: true, negativeThreshold: 0.5, escalateOnVeryNegative: false },
  followUp: { enabled: false, delayMinutes: 60, maxFollowUps: 1, onlyIfNoReply: true, messages: [] } };

async function edit(id) {
  stopEvents();
  let agent = { name: '', model: '', baseUrl: '', systemPrompt: 'You are a helpful assistant of our company.', isActive: true, settings: DEFAULTS };
  if (id) {
    const data = await attempt(() => gql(`query($id: ID!) { agent(id: $id) { ${AGENT} } }`, { id }));
    if (!data) return;
    agent = data.agent;
  }
  current = id;
  root.querySelectorAll('#agent-list tr').forEach((tr) => tr.classList.toggle('selected', tr.dataset.agent === id));
  const form = h('form', { id: 'agent-form', onsubmit: (event) => save(event, form) },
    h('h3', {}, id ? agent.name : 'New agent'),
    h('div', { class: 'row' }, text('Name', 'name', agent.name, { 'data-field': 'name', required: true }), check('Active', 'isActive', agent.isActive)),
    h('div', { class: 'row' }, text('Model', 'model', agent.model, { 'data-field': 'model', placeholder: 'server default' }),
      text('LLM base URL', 'baseUrl', agent.baseUrl, { 'data-field': 'baseUrl', placeholder: 'server default' }),
      text('LLM key', 'apiKey', '', { 'data-field': 'apiKey', type: 'password', placeholder: agent.hasApiKey ? 'set (write-only)' : 'server default' })),
    h('label', { class: 'block' }, 'System prompt', h('textarea', { name: 'systemPrompt', 'data-field': 'systemPrompt' }, agent.systemPrompt)),
    ...settingsFields(agent.settings),
    h('div', { class: 'row' }, h('button', { type: 'submit' }, id ? 'Save' : 'Create agent'),
      id ? h('button', { type: 'button', class: 'danger', onclick: () => remove(id) }, 'Delete') : null));
  fill($('#agent-detail', root), id ? channels(id) : null, form);
  if (id) {
    stopEvents = live.subscribe('subscription($id: ID!) { agentEvents(agentId: $id) { kind } }', { id }, {
      next: ({ agentEvents: e }) => { if (e.kind === 'INTEGRATION_STATE') { refreshIntegrations(id); refreshHealth(); } },
    });
  }
}

async function save(event, form) {
  event.preventDefault();
  const f = form.elements;
  const fields = { name: f.name.value, model: f.model.value, baseUrl: f.baseUrl.value, systemPrompt: f.systemPrompt.value, isActive: f.isActive.checked };
  if (f.apiKey.value) fields.apiKey = f.apiKey.value;
  const settings = readSettings(form);
  try {
    let id = current;
    if (id) {
      await gql('mutation($id: ID!, $input: UpdateAgentInput!) { updateAgent(id: $id, input: $input) { id } }', { id, input: fields });
      await gql('mutation($id: ID!, $s: AgentSettingsChange!) { updateAgentSettings(id: $id, settings: $s) { id } }', { id, s: settings });
    } else {
      for (const key of ['model', 'baseUrl']) if (!fields[key]) delete fields[key];
      id = (await gql('mutation($input: CreateAgentInput!) { createAgent(input: $input) { id } }', { input: { ...fields, settings } })).createAgent.id;
    }
    showFieldErrors(form, null);
    toast('Saved');
    await list();
    edit(id);
  } catch (err) {
    showFieldErrors(form, err);
  }
}

async function remove(id) {
  if (!confirm('Delete this agent? It stops answering; its conversations stay readable.')) return;
  if (await attempt(() => gql('mutation($id: ID!) { deleteAgent(id: $id) { id } }', { id }))) { list(); fill($('#agent-detail', root)); }
}

function channels(agentId) {
  const creds = h('span', { id: 'kind-fields', class: 'row' });
  const kind = h('select', { name: 'kind', 'aria-label': 'Channel kind', onchange: () => fill(creds, ...KINDS[kind.value].map(([, name, label, required]) =>
    h('input', { name, placeholder: label, required: !!required, 'aria-label': label }))) }, ...Object.keys(KINDS).map((k) => h('option', { value: k }, k)));
  const form = h('form', { id: 'connect-form', class: 'row', onsubmit: async (event) => {
    event.preventDefault();
    const input = { agentId, kind: kind.value, name: form.elements.name.value };
    for (const [group, name] of KINDS[kind.value]) {
      const value = form.elements[name].value.trim();
      if (value) input[group] = { ...(input[group] || {}), [name]: value };
    }
    if (kind.value === 'WHATSAPP_DEVICE') input.whatsappDevice ??= {};
    const data = await attempt(() => gql(`mutation($input: ConnectIntegrationInput!) { connectIntegration(input: $input) { id } }`, { input }));
    if (data) { toast('Channel connecting'); refreshHealth(); refreshIntegrations(agentId); }
  } }, kind, h('input', { name: 'name', required: true, placeholder: 'Name', 'aria-label': 'Channel name' }), creds, h('button', { type: 'submit' }, 'Connect'));
  const box = h('div', {}, h('h3', {}, 'Channels'), h('table', { class: 'list', id: 'integrations' }, h('tbody')), form);
  setTimeout(() => refreshIntegrations(agentId));
  return box;
}

async function refreshIntegrations(agentId) {
  const data = await attempt(() => gql(`query($a: ID) { integrations(agentId: $a) { ${INTEGRATION} } }`, { a: agentId }));
  if (!data || current !== agentId) return;
  const act = (field, id) => attempt(async () => { await gql(`mutation($id: ID!) { ${field}(id: $id) { id } }`, { id }); refreshHealth(); refreshIntegrations(agentId); });
  fill($('#integrations tbody', root), data.integrations.map((i) => h('tr', { dataset: { integration: i.id, state: i.state } },
    h('td', {}, h('b', {}, i.name), h('div', { class: 'muted' }, `${i.kind} · ${i.mode}${i.identity ? ` · ${i.identity}` : ''}`)),
    h('td', {}, badge(i.state), i.sessionStatus ? badge(i.sessionStatus) : null, h('div', { class: 'reason' }, i.stateReason || '', ` · ${when(i.updatedAt)}`),
      i.sessionStatus === 'SCAN_QR_CODE' ? qr(i.id) : null),
    h('td', {}, i.state === 'DISCONNECTED'
      ? h('button', { class: 'quiet', onclick: () => act('reconnectIntegration', i.id) }, 'Reconnect')
      : h('button', { class: 'quiet', onclick: () => act('disconnectIntegration', i.id) }, 'Disconnect')))));
}

/** The QR code the phone scans; it changes every 20 s or so, each change an agent event. */
function qr(integrationId) {
  const img = h('img', { class: 'qr', alt: 'QR code: WhatsApp → Linked devices → Link a device' });
  gql('query($id: ID!) { integrationQr(integrationId: $id) }', { id: integrationId })
    .then((d) => { img.src = d.integrationQr; })
    .catch((err) => img.replaceWith(h('div', { class: 'reason' }, err.message)));
  return h('div', {}, img, h('div', { class: 'reason' }, 'Scan with WhatsApp → Linked devices'));
}
