// The dashboard's shell: the token, the header, and one section per tab, each mounted the
// first time it is shown.

import { gql, live, token } from './api.js';
import { $, toast } from './ui.js';
import { refreshHealth } from './health.js';
import * as meetings from './meetings.js';
import * as chat from './chat.js';
import * as agents from './agents.js';
import * as broadcasts from './broadcasts.js';
import * as media from './media.js';
import * as stats from './stats.js';

const SECTIONS = { meetings, chat, agents, broadcasts, media, stats };
const mounted = new Set();

function show() {
  const name = location.hash.slice(1) in SECTIONS ? location.hash.slice(1) : 'meetings';
  for (const section of document.querySelectorAll('main > section')) section.hidden = section.id !== name;
  for (const tab of document.querySelectorAll('#tabs a')) tab.classList.toggle('active', tab.hash === `#${name}`);
  if (!mounted.has(name) && token.get()) {
    mounted.add(name);
    SECTIONS[name].mount($(`#${name}`));
  }
}

async function whoAmI() {
  if (!token.get()) {
    $('#viewer').textContent = 'Paste a token to begin';
    $('#token').focus();
    return;
  }
  try {
    const { viewer } = await gql('{ viewer { userId organisationId role } }');
    $('#viewer').textContent = `${viewer.userId} · ${viewer.organisationId} · ${viewer.role}`;
    $('#token-form').classList.add('has-token');
  } catch (err) {
    $('#viewer').textContent = '';
    toast(`The token was refused: ${err.message}`, 'error');
  }
}

$('#token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  if (!$('#token').value.trim()) return;
  token.set($('#token').value);
  location.reload();
});
$('#token-clear').addEventListener('click', () => {
  token.clear();
  location.reload();
});
live.onState((state) => {
  $('#live-state').className = `live-state ${state}`;
  $('#live-state').textContent = state === 'open' ? 'live' : state;
});
window.addEventListener('hashchange', show);

refreshHealth();
whoAmI();
live.open();
show();
