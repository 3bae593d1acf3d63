// The notifications bell: unread count, the list (newest first, "Load more" on the cursor), mark read.
// Every event on the user's own stream is a notification: it counts as unread the moment it arrives.

import { get, post } from '../api.js';
import { describe } from '../describe.js';
import { bellIcon, empty, formatDateTime, h, onLoadMore, replaceChildren } from '../dom.js';

let state = null;

export function mount(app) {
  const count = h('span', { class: 'count', 'aria-hidden': 'true' });
  const label = h('span', { class: 'visually-hidden' });
  const bell = h('button', { type: 'button', class: 'bell', 'aria-expanded': 'false', 'aria-controls': 'notifications-panel' },
    bellIcon(), 'Notifications', label, count);
  const list = h('ol', { class: 'notification-list' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const markRead = h('button', { type: 'button' }, 'Mark all read');
  const more = h('button', { type: 'button', class: 'quiet', hidden: true }, 'Load more');
  const panel = h('section', { id: 'notifications-panel', class: 'notifications-panel', hidden: true, 'aria-label': 'Notifications' },
    h('div', { class: 'panel-head' }, h('h2', {}, 'Notifications'), markRead), error, list, more);
  state = { app, bell, count, label, list, panel, items: [], unread: 0, newest: null, cursor: null, loaded: false };

  bell.addEventListener('click', () => toggle());
  markRead.addEventListener('click', async () => {
    if (!state.newest) return;
    const upTo = state.newest;
    markRead.disabled = true;
    error.textContent = '';
    try {
      await post('/api/users/notifications/read', { upTo });
      if (!state) return;
      // what arrived while the request was in flight stays unread, as it is on the server
      let unread = 0;
      for (const item of state.items) {
        if (newerThan(item.id, upTo)) unread += item.read ? 0 : 1;
        else item.read = true;
      }
      setUnread(unread);
      render();
    } catch (failure) {
      error.textContent = failure.message;
    } finally {
      markRead.disabled = false;
    }
  });
  onLoadMore(more, () => load(state.cursor));
  state.more = more;
  state.error = error;
  document.addEventListener('keydown', onKey);

  app.bus.addEventListener('event', onEvent);
  app.bus.addEventListener('resync', () => load(null));
  load(null);
  return h('div', { class: 'bell-wrap' }, bell, panel);
}

export function unmount() {
  if (!state) return;
  document.removeEventListener('keydown', onKey);
  state = null;
}

function onKey(event) {
  if (event.key === 'Escape' && state && !state.panel.hidden) {
    toggle(false);
    state.bell.focus();
  }
}

function toggle(open = state.panel.hidden) {
  state.panel.hidden = !open;
  state.bell.setAttribute('aria-expanded', String(open));
  if (open) render();
}

function onEvent(event) {
  const frame = event.detail;
  if (!state || frame.stream !== 'user') return;
  state.items.unshift({ id: frame.id, event: frame.event, data: frame.data, createdAt: new Date(Number(frame.id.split('-')[0])).toISOString(), read: false, live: true });
  state.newest = frame.id;
  setUnread(state.unread + 1);
  if (!state.panel.hidden) render();
}

async function load(cursor) {
  if (!state) return;
  try {
    const page = await get('/api/users/notifications', { limit: 20, before: cursor ?? undefined });
    if (!state) return;
    if (cursor) {
      state.items = state.items.concat(page.notifications);
    } else {
      // events that arrived live and are newer than the page read (it may have been read before them)
      // stay on top, unread
      const newestRead = page.notifications[0]?.id ?? '0-0';
      const later = state.items.filter((item) => item.live && newerThan(item.id, newestRead));
      state.items = later.concat(page.notifications);
      state.newest = state.items[0]?.id ?? null;
      setUnread(page.unread + later.length);
    }
    state.cursor = page.nextCursor;
    state.loaded = true;
    state.error.textContent = '';
    render();
  } catch (failure) {
    if (state) state.error.textContent = failure.message;
  }
}

// stream ids compare as (milliseconds, sequence)
function newerThan(id, other) {
  const [ms, seq] = id.split('-').map(Number);
  const [otherMs, otherSeq] = other.split('-').map(Number);
  return ms > otherMs || (ms === otherMs && seq > otherSeq);
}

function setUnread(unread) {
  state.unread = unread;
  state.count.textContent = unread > 0 ? String(unread > 99 ? '99+' : unread) : '';
  state.count.hidden = unread === 0;
  state.label.textContent = unread > 0 ? `, ${unread} unread` : '';
}

function render() {
  if (!state || state.panel.hidden) return;
  replaceChildren(state.list, state.items.length === 0 ? h('li', {}, empty('Nothing yet. Events about your invoices and wallet appear here.')) : state.items.map((item) =>
    h('li', { class: item.read ? 'read' : 'unread' },
      h('p', { class: 'what' }, describe(item.event, item.data)),
      h('p', { class: 'when' }, formatDateTime(item.createdAt)))));
  state.more.hidden = !state.cursor;
}
