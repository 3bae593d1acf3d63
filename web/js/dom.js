// Building DOM without HTML strings: every piece of API data goes in as text (textContent or a text
// node), never through innerHTML, so an invoice number like <img onerror=...> shows literally.

import { coalesce } from './coalesce.js';

// h('button', {class: 'primary', onclick: fn, type: 'submit'}, 'Fund')
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      element.className = value;
    } else if (name === 'dataset') {
      Object.assign(element.dataset, value);
    } else if (name === 'value') {
      element.value = value;
    } else if (name === 'checked' || name === 'disabled' || name === 'hidden' || name === 'selected') {
      element[name] = Boolean(value);
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replaceChildren(element, ...children) {
  element.replaceChildren();
  append(element, children);
}

let nextId = 0;
export function uid(prefix = 'f') {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

// A labelled input: <label for=id>Label</label><input id=id ...>, plus the place its error goes.
export function field(label, attributes = {}, hint = '') {
  const id = uid('field');
  const errorId = `${id}-error`;
  const input = h(attributes.tag ?? 'input', { ...attributes, tag: undefined, id, 'aria-describedby': errorId });
  const error = h('p', { class: 'field-error', id: errorId, role: 'alert' });
  const wrapper = h('div', { class: 'field' }, h('label', { for: id }, label), input,
    hint ? h('p', { class: 'hint' }, hint) : null, error);
  return { wrapper, input, error };
}

// After an answer: empties an input of what was submitted, unless the person has typed something else
// there meanwhile (an answer that comes late must not erase the next amount)
export function clearSubmitted(input, submitted) {
  if (input.value === submitted) input.value = '';
}

export function select(label, options, attributes = {}) {
  const id = uid('select');
  const control = h('select', { ...attributes, id },
    options.map(([value, text]) => h('option', { value }, text)));
  const wrapper = h('div', { class: 'field' }, h('label', { for: id }, label), control);
  return { wrapper, input: control };
}

const dateFormat = new Intl.DateTimeFormat('en-IN', { day: '2-digit', month: 'short', year: 'numeric', timeZone: 'UTC' });
const dateTimeFormat = new Intl.DateTimeFormat('en-IN', {
  day: '2-digit', month: 'short', hour: '2-digit', minute: '2-digit', timeZone: 'Asia/Kolkata',
});

// dates (due dates are UTC days) and times (shown in India's time), each formatter made once
export function formatDate(iso) {
  return iso ? dateFormat.format(new Date(iso)) : '—';
}

export function formatDateTime(iso) {
  return iso ? dateTimeFormat.format(new Date(iso)) : '—';
}

// Whole days from now to the due date (0 on the day, negative once past).
export function daysTo(iso, now = Date.now()) {
  return Math.ceil((Date.parse(iso) - now) / 86_400_000);
}

export function statusBadge(status) {
  return h('span', { class: `badge status-${status}` }, status.replaceAll('_', ' '));
}

export function empty(text) {
  return h('p', { class: 'empty' }, text);
}

// Tables read as cards on a narrow screen: each cell is labelled with its column's heading (CSS shows
// the label from data-label), for the rows there now and every row added later.
export function responsiveTable(table) {
  const headings = [...table.tHead.rows[0].cells].map((cell) => cell.textContent);
  const label = (row) => {
    if (row.cells.length !== headings.length) return;
    [...row.cells].forEach((cell, index) => { if (headings[index]) cell.dataset.label = headings[index]; });
  };
  new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) if (node.nodeName === 'TR') label(node);
    }
  }).observe(table, { childList: true, subtree: true });
  for (const body of table.tBodies) for (const row of body.rows) label(row);
  table.classList.add('responsive');
  return table;
}

const SVG = 'http://www.w3.org/2000/svg';
export function bellIcon() {
  const icon = document.createElementNS(SVG, 'svg');
  icon.setAttribute('viewBox', '0 0 24 24');
  icon.setAttribute('aria-hidden', 'true');
  icon.setAttribute('class', 'icon');
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('d', 'M12 2a6 6 0 0 0-6 6v3.6L4.3 15a1 1 0 0 0 .9 1.5h13.6a1 1 0 0 0 .9-1.5L18 11.6V8a6 6 0 0 0-6-6zm0 20a3 3 0 0 0 2.8-2H9.2A3 3 0 0 0 12 22z');
  path.setAttribute('fill', 'currentColor');
  icon.append(path);
  return icon;
}

// Puts one row per item in `body`, in order, reusing the row already shown for an item whose data has
// not changed (same key, same JSON): a live refresh then leaves alone what a person is typing or has
// focused, and rebuilds only what changed. Rows that stay in place are not moved.
export function keyedRows(body, items, key, build, empty) {
  const previous = body.keyedRows ?? new Map();
  const next = new Map();
  const rows = [];
  for (const item of items) {
    const id = key(item);
    const json = JSON.stringify(item);
    const kept = previous.get(id);
    const built = kept && kept.json === json ? kept.rows : [build(item)].flat();
    next.set(id, { json, rows: built });
    rows.push(...built);
  }
  body.keyedRows = next;
  if (rows.length === 0 && empty) rows.push(empty);
  let cursor = body.firstChild;
  for (const row of rows) {
    if (row === cursor) {
      cursor = cursor.nextSibling;
    } else {
      body.insertBefore(row, cursor);
    }
  }
  while (cursor) {
    const after = cursor.nextSibling;
    cursor.remove();
    cursor = after;
  }
}

// A "Load more" button: disabled while its page loads, so a double click cannot append a page twice.
// The API's largest page (`limit`), which a refresh may ask for to keep what "Load more" added.
const PAGE_LIMIT_MAX = 100;

// A list read page by page with "Load more". `read(limit, cursor)` fetches a page and returns
// {count, nextCursor, ...}, `show(page, appended)` draws it. A refresh (a live event, a resync) reads again
// as many as are shown (up to the API's largest page), so pages the person loaded do not vanish under
// them. Returns the refresh, coalesced.
// A refresh and a "Load more" may be in flight together: whichever answers second and no longer fits
// (a page read before a refresh, a refresh that a newer one replaced) is dropped, so no page is appended
// twice, lost under a refresh or appended after a gap.
export function pagedList({ more, error, pageSize, read, show, scope }) {
  let cursor = null;
  let shown = 0;
  let generation = 0; // a refresh starts a new one
  async function load(after) {
    const asked = after ? generation : ++generation;
    const page = await read(after ? pageSize : Math.min(Math.max(shown, pageSize), PAGE_LIMIT_MAX), after ?? undefined);
    if (scope.closed || asked !== generation || (after && after !== cursor)) return;
    show(page, Boolean(after));
    shown = (after ? shown : 0) + page.count;
    cursor = page.nextCursor;
    more.hidden = !cursor;
    error.textContent = '';
  }
  const failed = (failure) => { error.textContent = failure.message; };
  const refresh = coalesce(() => load(null).catch(failed));
  onLoadMore(more, () => load(cursor).catch(failed));
  scope.on('resync', refresh);
  return refresh;
}

export function onLoadMore(button, load) {
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await load();
    } finally {
      button.disabled = false;
    }
  });
}

// A big figure (a balance, what is outstanding): one that is long (crores of crores) shrinks to its card.
export function showFigure(element, text) {
  element.textContent = text;
  element.toggleAttribute('data-long', text.length > 13);
}
