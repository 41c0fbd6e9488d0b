// Memorial media: memorials, their photos and videos as thumbnails, uploads with progress
// (the REST upload route, streamed), and a photo animated into a talking video, followed
// step by step (animationStatus).

import { gql, live, token } from './api.js';
import { h, $, fill, when, badge, attempt, toast, here } from './ui.js';

const MEDIA = 'id kind contentType fileName sizeBytes width height durationSecs url thumbnailUrl animationId createdAt animations { id status }';
const STEP = 'sequence status detail at';

let root;
let memorialId = null;
let stopAnimation = () => {};

export function mount(section) {
  root = section;
  const form = h('form', { id: 'memorial-form', class: 'row', onsubmit: async (event) => {
    event.preventDefault();
    const input = { name: form.elements.name.value, description: form.elements.description.value || null };
    const data = await attempt(() => gql('mutation($input: CreateMemorialInput!) { createMemorial(input: $input) { id } }', { input }));
    if (data) { form.reset(); await list(); open(data.createMemorial.id); }
  } }, h('input', { name: 'name', required: true, placeholder: 'Name', 'aria-label': 'Memorial name' }),
  h('input', { name: 'description', placeholder: 'Description (optional)', 'aria-label': 'Description' }), h('button', { type: 'submit' }, 'New memorial'));
  section.append(h('h2', {}, 'Memorial media'), form, h('div', { class: 'split' },
    h('div', { class: 'pane' }, h('h3', {}, 'Memorials'), h('table', { class: 'list', id: 'memorial-list' }, h('tbody'))),
    h('div', { class: 'pane', id: 'memorial' }, h('p', { class: 'muted' }, 'Pick a memorial.'))));
  list();
}

async function list() {
  const data = await attempt(() => gql('{ memorials(first: 50) { nodes { id name description createdAt } } }'));
  if (!data) return;
  fill($('#memorial-list tbody', root), data.memorials.nodes.map((m) => h('tr', { onclick: () => open(m.id), dataset: { memorial: m.id } },
    h('td', {}, h('b', {}, m.name), m.description ? h('div', { class: 'muted' }, m.description) : null), h('td', { class: 'muted' }, when(m.createdAt)))));
}

const size = (bytes) => (bytes > 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.ceil(bytes / 1e3)} KB`);

async function open(id) {
  memorialId = id;
  const data = await attempt(() => gql(`query($id: ID!) { memorial(id: $id) { id name media(first: 50) { nodes { ${MEDIA} } } } }`, { id }));
  if (!data || memorialId !== id) return;
  const progress = h('progress', { max: 100, value: 0, hidden: true, id: 'upload-progress' });
  const file = h('input', { type: 'file', accept: 'image/*,video/*', 'aria-label': 'Photo or video', onchange: () => upload(id, file, progress) });
  const thumbs = data.memorial.media.nodes.map((m) => h('div', { class: 'thumb', dataset: { media: m.id } },
    m.kind === 'VIDEO' ? h('video', { src: here(m.url), poster: m.thumbnailUrl ? here(m.thumbnailUrl) : null, controls: true, preload: 'none' })
      : h('img', { src: here(m.thumbnailUrl || m.url), alt: m.fileName, loading: 'lazy' }),
    h('div', {}, m.fileName), h('div', { class: 'muted' }, `${m.kind} · ${size(m.sizeBytes)}${m.width ? ` · ${m.width}×${m.height}` : ''}${m.durationSecs ? ` · ${m.durationSecs.toFixed(1)} s` : ''}`),
    m.animations.map((a) => h('div', { class: 'row' }, h('a', { href: '#media', onclick: (e) => { e.preventDefault(); follow(a.id); } }, 'animation'), badge(a.status))),
    m.kind === 'PHOTO' ? h('button', { class: 'quiet', onclick: () => animate(m) }, 'Animate') : null));
  fill($('#memorial', root), h('h3', {}, data.memorial.name), h('div', { class: 'row' }, file, progress),
    h('div', { class: 'thumbs', id: 'thumbs' }, thumbs.length ? thumbs : h('p', { class: 'muted' }, 'No photos or videos yet.')),
    h('div', { id: 'animation' }));
}

/** Streams the file to the REST upload route, showing how much has gone. */
function upload(id, input, progress) {
  const chosen = input.files[0];
  if (!chosen) return;
  const body = new FormData();
  body.append('file', chosen);
  const xhr = new XMLHttpRequest();
  xhr.open('POST', `/api/v1/memorials/${encodeURIComponent(id)}/media/upload`);
  xhr.setRequestHeader('authorization', `Bearer ${token.get()}`);
  progress.hidden = false;
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) progress.value = (100 * e.loaded) / e.total; };
  xhr.onload = () => {
    progress.hidden = true;
    if (xhr.status >= 200 && xhr.status < 300) { toast(`${chosen.name} uploaded`); open(id); return; }
    let detail = xhr.statusText;
    try { detail = JSON.parse(xhr.responseText).detail || detail; } catch { /* not JSON */ }
    toast(`Upload refused: ${detail}`, 'error');
  };
  xhr.onerror = () => { progress.hidden = true; toast('Upload failed: the connection dropped', 'error'); };
  xhr.send(body);
}

async function animate(photo) {
  const script = prompt('What should the photo say?', 'Thank you all for coming today.');
  if (!script) return;
  const data = await attempt(() => gql('mutation($input: AnimatePhotoInput!) { animatePhoto(input: $input) { id } }', { input: { mediaId: photo.id, script } }));
  if (data) follow(data.animatePhoto.id);
}

/** Every step of the animation live, then its video. */
function follow(animationId) {
  stopAnimation();
  const steps = h('ol', { class: 'timeline', id: 'animation-steps' });
  const memorial = memorialId;
  fill($('#animation', root), h('h4', {}, 'Animation'), steps);
  let last = 0;
  stopAnimation = live.subscribe(`subscription($id: ID!, $after: Int) { animationStatus(animationId: $id, after: $after) { ${STEP} } }`,
    () => ({ id: animationId, after: last || null }), {
      next: ({ animationStatus: s }) => {
        if (s.sequence <= last) return;
        last = s.sequence;
        steps.append(h('li', { dataset: { status: s.status } }, badge(s.status), h('span', { class: 'muted' }, ` ${when(s.at)} · ${s.detail}`)));
      },
      complete: async () => {
        const done = await attempt(() => gql('query($id: ID!) { animation(id: $id) { status error videoUrl } }', { id: animationId }));
        if (!done || memorialId !== memorial) return;
        const a = done.animation;
        $('#animation', root).append(a.videoUrl ? h('video', { src: here(a.videoUrl), controls: true, class: 'result', width: 320 })
          : h('div', { class: 'error-box' }, a.error || a.status));
      },
      error: (e) => toast(e[0]?.message, 'error'),
    });
}
