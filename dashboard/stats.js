// Today's figures with two small charts drawn as inline SVG (no chart library): messages per
// hour since midnight UTC, and messages by channel.

import { gql } from './api.js';
import { h, $, fill, attempt } from './ui.js';

const PERIOD_MS = 30000;
const SVG = 'http://www.w3.org/2000/svg';

/** An SVG element with its attributes. */
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  el.append(...children);
  return el;
}

/** Vertical bars, one per value, labelled every `every` bars. */
function columns(values, labels, { width = 600, height = 160, every = 3 } = {}) {
  const max = Math.max(1, ...values);
  const pad = 18;
  const w = (width - pad) / values.length;
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${width} ${height + pad}`, width, height: height + pad, role: 'img' });
  svg.append(s('text', { x: 0, y: 10 }, String(max)));
  values.forEach((v, i) => {
    const bh = (height - 14) * (v / max);
    svg.append(s('rect', { class: 'bar', x: pad + i * w + 1, y: height - bh, width: Math.max(w - 2, 1), height: bh }, s('title', {}, `${labels[i]}: ${v}`)));
    if (i % every === 0) svg.append(s('text', { x: pad + i * w, y: height + 12 }, labels[i]));
  });
  return svg;
}

/** Horizontal bars, one per (label, value). */
function rows(pairs, { width = 400 } = {}) {
  const max = Math.max(1, ...pairs.map(([, v]) => v));
  const line = 22;
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${width} ${pairs.length * line}`, width, height: pairs.length * line, role: 'img' });
  pairs.forEach(([label, v], i) => {
    svg.append(s('text', { x: 0, y: i * line + 14 }, label),
      s('rect', { class: 'bar', x: 80, y: i * line + 4, width: ((width - 130) * v) / max, height: line - 8 }),
      s('text', { x: 84 + ((width - 130) * v) / max, y: i * line + 14 }, String(v)));
  });
  return svg;
}

export function mount(section) {
  section.append(h('h2', {}, 'Today'), h('div', { id: 'stats-body' }));
  refresh(section);
}

async function refresh(section) {
  setTimeout(() => refresh(section), PERIOD_MS);
  if (section.hidden) return;
  const data = await attempt(() => gql('{ dashboardStats { messagesToday conversations activeAgents byChannel { channel messages } byHour } }'));
  if (!data) return;
  const st = data.dashboardStats;
  const hours = st.byHour.map((_, i) => `${String(i).padStart(2, '0')}h`);
  const card = (label, value) => h('div', { class: 'card' }, h('b', {}, String(value)), label);
  fill($('#stats-body', section),
    h('div', { class: 'cards' }, card('messages today', st.messagesToday), card('conversations', st.conversations), card('active agents', st.activeAgents)),
    h('div', { class: 'split' },
      h('div', { class: 'pane' }, h('h3', {}, 'Messages per hour (UTC)'), columns(st.byHour, hours)),
      h('div', { class: 'pane' }, h('h3', {}, 'Messages by channel'),
        st.byChannel.length ? rows(st.byChannel.map((c) => [c.channel, c.messages])) : h('p', { class: 'muted' }, 'No messages today.'))));
}
