// Small DOM helpers shared by the sections.

/** `h('div', {class: 'x', onclick}, child, …)`: an element; strings become text nodes. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** Local time of day, with the date when not today. */
export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

/** Seconds between two instants, as "4.2 s" or "3 min". */
export function took(fromIso, toIso) {
  const s = (new Date(toIso) - new Date(fromIso)) / 1000;
  return s < 90 ? `${s.toFixed(1)} s` : `${Math.round(s / 60)} min`;
}

/** A status as a coloured badge (its colour from its name, in style.css). */
export const badge = (text, extra = '') => h('span', { class: `badge s-${text} ${extra}` }, text);

/** A short-lived message at the bottom of the page; errors stay until clicked. */
export function toast(message, kind = 'info') {
  const el = h('div', { class: `toast ${kind}`, onclick: () => el.remove() }, message);
  $('#toasts').append(el);
  if (kind !== 'error') setTimeout(() => el.remove(), 4000);
}

/** Runs `action`, showing its error as a toast; resolves to its result or undefined. */
export async function attempt(action) {
  try {
    return await action();
  } catch (err) {
    toast(err.message, 'error');
    return undefined;
  }
}

/**
 * Shows a server's BAD_USER_INPUT by the field it names: the server's messages begin with
 * the field (`settings.working_hours.timezone 'Mars' is not …`), which the input carrying
 * that `data-field` gets under it; otherwise the form's own error line does.
 */
export function showFieldErrors(form, err) {
  form.querySelectorAll('.field-error').forEach((e) => e.remove());
  form.querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
  if (!err) return;
  const named = err.message.split(/\s/)[0];
  const target = [...form.querySelectorAll('[data-field]')].find((input) => input.dataset.field === named);
  const line = h('div', { class: 'field-error', role: 'alert', dataset: { for: named } }, err.message);
  if (target) {
    target.setAttribute('aria-invalid', 'true');
    (target.closest('label') || target).after(line);
    target.focus();
  } else {
    form.prepend(line);
  }
}


/**
 * A link the server signed (an export, a medium) on this page's own origin: the server names
 * it under PUBLIC_BASE_URL, which is how providers reach it and may not be how this browser
 * does (a tunnel, another port).
 */
export function here(url) {
  const u = new URL(url, location.href);
  return u.pathname + u.search;
}

/** `el.replaceChildren`, leaving out null, undefined and false. */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}
