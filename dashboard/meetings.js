// Meetings: send a bot into a call, watch it move through every status live (botStatus),
// then its transcript (meetingTranscript), summary and Jira issues, or its error.

import { gql, live } from './api.js';
import { h, $, when, took, badge, attempt, toast } from './ui.js';

const STATUSES = ['INITIALIZED', 'CONNECTING', 'AWAITING_ADMISSION', 'CONNECTED', 'TRANSCRIBING',
  'ANALYZING_MEETING', 'CREATING_TASKS', 'DONE', 'ERROR'];
const FINAL = new Set(['DONE', 'ERROR']);
const CHANGE = 'sequence status source reason at';
const BOT = `id status meetUrl platform botName userId errorMessage summary resultData sequence createdAt updatedAt
  statusHistory { ${CHANGE} } tasks { id title description assignee jiraKey jiraUrl error }`;

let root;
let rowWatchers = [];
let detailStops = [];

export function mount(section) {
  root = section;
  const filter = h('select', { id: 'bot-filter', 'aria-label': 'Status', onchange: () => list() },
    h('option', { value: '' }, 'every status'), ...STATUSES.map((s) => h('option', { value: s }, s)));
  const form = h('form', { id: 'trigger-form', class: 'row', onsubmit: trigger },
    h('input', { name: 'meetUrl', required: true, placeholder: 'https://meet.google.com/abc-defg-hij', 'aria-label': 'Meeting URL', size: 40 }),
    h('input', { name: 'botName', required: true, value: 'Scribe', 'aria-label': 'Bot name', size: 12 }),
    h('button', { type: 'submit' }, 'Send bot'));
  section.append(
    h('h2', {}, 'Meetings'),
    form,
    h('div', { class: 'split' },
      h('div', { class: 'pane' },
        h('div', { class: 'row' }, h('h3', {}, 'Recent bots'), filter, h('button', { class: 'quiet', onclick: () => list() }, 'Refresh')),
        h('table', { id: 'bots', class: 'list' }, h('tbody'))),
      h('div', { class: 'pane', id: 'bot-detail' }, h('p', { class: 'muted' }, 'Send a bot or pick one to follow it.'))));
  list();
}

async function trigger(event) {
  event.preventDefault();
  const form = event.target;
  const input = { meetUrl: form.meetUrl.value.trim(), botName: form.botName.value.trim() };
  const data = await attempt(() => gql(`mutation($input: TriggerMeetingBotInput!) { triggerMeetingBot(input: $input) { id } }`, { input }));
  if (!data) return;
  toast('Bot sent');
  await list();
  open(data.triggerMeetingBot.id);
}

async function list() {
  const status = $('#bot-filter', root).value || null;
  const data = await attempt(() => gql(`query($status: BotStatus) { meetingBots(first: 20, status: $status) {
    nodes { id status meetUrl botName platform createdAt sequence } } }`, { status }));
  if (!data) return;
  rowWatchers.forEach((stop) => stop());
  rowWatchers = [];
  const rows = data.meetingBots.nodes.map((bot) => {
    const cell = h('td', { class: 'status' }, badge(bot.status));
    if (!FINAL.has(bot.status)) {
      rowWatchers.push(live.subscribe(`subscription($id: ID!, $after: Int) { botStatus(botId: $id, after: $after) { sequence status } }`,
        { id: bot.id, after: bot.sequence }, { next: (d) => cell.replaceChildren(badge(d.botStatus.status)) }));
    }
    return h('tr', { dataset: { bot: bot.id }, onclick: () => open(bot.id) },
      cell, h('td', {}, bot.botName), h('td', { class: 'url' }, bot.meetUrl), h('td', { class: 'muted' }, when(bot.createdAt)));
  });
  $('#bots tbody', root).replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { class: 'muted' }, 'No bots yet.'))]));
}

/** Shows the bot, then follows its status and transcript until they end. */
async function open(id) {
  detailStops.forEach((stop) => stop());
  detailStops = [];
  root.querySelectorAll('#bots tr').forEach((tr) => tr.classList.toggle('selected', tr.dataset.bot === id));
  const data = await attempt(() => gql(`query($id: ID!) { meetingBot(id: $id) { ${BOT} } }`, { id }));
  if (!data) return;
  const bot = data.meetingBot;
  const history = h('ol', { class: 'timeline', id: 'bot-history' });
  const transcript = h('div', { class: 'transcript', id: 'bot-transcript' });
  const result = h('div', { id: 'bot-result' });
  const current = h('span', { id: 'bot-status' }, badge(bot.status));
  const stop = h('button', { class: 'quiet', onclick: () => attempt(() => gql('mutation($id: ID!) { stopMeetingBot(id: $id) { id } }', { id })) }, 'Stop bot');
  $('#bot-detail', root).replaceChildren(
    h('h3', {}, bot.botName, ' ', current, ' ', FINAL.has(bot.status) ? null : stop),
    h('p', { class: 'muted' }, `${bot.platform} · `, h('a', { href: bot.meetUrl, target: '_blank', rel: 'noopener' }, bot.meetUrl), ` · by ${bot.userId} · ${bot.id}`),
    history, result, h('h4', {}, 'Transcript'), transcript);

  let lastSeq = 0;
  let following = false;
  const addChange = (change) => {
    if (change.sequence <= lastSeq) return;
    const prev = history.lastElementChild;
    lastSeq = change.sequence;
    history.append(h('li', { dataset: { status: change.status, at: change.at } }, badge(change.status),
      h('span', { class: 'muted' }, ` ${when(change.at)} · ${change.source}`),
      prev ? h('span', { class: 'muted' }, ` · +${took(prev.dataset.at, change.at)}`) : null,
      change.reason ? h('div', { class: 'reason' }, change.reason) : null));
    current.replaceChildren(badge(change.status));
    const row = root.querySelector(`#bots tr[data-bot="${id}"] .status`);
    if (row) row.replaceChildren(badge(change.status));
    if (FINAL.has(change.status) && following) { stop.remove(); showResult(id, result); }
  };
  bot.statusHistory.forEach(addChange);
  following = true;
  if (FINAL.has(bot.status)) showResult(id, result, bot);
  else {
    detailStops.push(live.subscribe(`subscription($id: ID!, $after: Int) { botStatus(botId: $id, after: $after) { ${CHANGE} } }`,
      () => ({ id, after: lastSeq || null }), { next: (d) => addChange(d.botStatus), error: (e) => toast(e[0]?.message, 'error') }));
  }

  let lastSegment = 0;
  detailStops.push(live.subscribe(`subscription($id: ID!, $after: Int) { meetingTranscript(botId: $id, after: $after) { sequence start end speaker text } }`,
    () => ({ id, after: lastSegment || null }), {
      next: ({ meetingTranscript: s }) => {
        if (s.sequence <= lastSegment) return;
        lastSegment = s.sequence;
        transcript.append(h('p', {}, h('span', { class: 'muted' }, `${fmtSecs(s.start)} `), s.speaker ? h('b', {}, `${s.speaker}: `) : null, s.text));
      },
      complete: () => { if (!lastSegment) transcript.append(h('p', { class: 'muted' }, 'No transcript.')); },
    }));
}

const fmtSecs = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;

async function showResult(id, el, known) {
  const bot = known || (await attempt(() => gql(`query($id: ID!) { meetingBot(id: $id) { ${BOT} } }`, { id })))?.meetingBot;
  if (!bot) return;
  if (bot.status === 'ERROR') {
    el.replaceChildren(h('div', { class: 'error-box', id: 'bot-error' }, bot.errorMessage || 'The bot failed.'));
    return;
  }
  const issues = bot.tasks.map((t) => h('li', {},
    t.jiraKey ? h('a', { href: t.jiraUrl || '#', target: '_blank', rel: 'noopener', class: 'issue' }, t.jiraKey) : h('span', { class: 'badge s-ERROR' }, 'not created'),
    ` ${t.title}`, t.assignee ? h('span', { class: 'muted' }, ` → ${t.assignee}`) : null,
    t.error ? h('div', { class: 'reason' }, t.error) : null));
  el.replaceChildren(
    h('h4', {}, 'Summary'), h('p', { id: 'bot-summary' }, bot.summary || bot.resultData?.summary || '—'),
    h('h4', {}, `Jira issues (${bot.tasks.filter((t) => t.jiraKey).length})`),
    h('ul', { id: 'bot-issues' }, issues.length ? issues : h('li', { class: 'muted' }, 'None.')));
}
