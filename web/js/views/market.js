// Investor marketplace: listed invoices with the API's filters and sort, "Load more" on the cursor,
// new listings live (highlighted), fractional fill progress live, and the invest panel (fund a whole
// invoice, buy a claim of a fractional one, bid and withdraw). Market events are applied in batches,
// once per animation frame, so a burst of them never blocks the page.

import { get } from '../api.js';
import { coalesce, perFrame } from '../coalesce.js';
import { daysTo, empty, field, formatDate, h, onLoadMore, replaceChildren, responsiveTable } from '../dom.js';
import { AmountError, discountBps, formatBps, formatPaise, parseRupees, yieldBps } from '../money.js';
import { buyerPicker } from './buyers.js';
import { investPanel } from './invest.js';

const PAGE = 50;
const NEW_HIGHLIGHT_MS = 5000;
// the table keeps at most this many rows: a burst of listings makes the oldest (last) rows leave, and
// "Load more" brings them back from where the table now ends (a longer table costs the browser a
// layout of every row for each arrival)
const ROWS_MAX = 300;
const SORTS = [['newest', 'Newest first'], ['amount', 'Face value, smallest first'], ['dueDate', 'Due date, soonest first']];

export function mount(root, { scope, setBalance }) {
  const rows = new Map(); // invoice id -> {invoice, tr, statusCell, progressCell, investButton}
  const body = h('tbody');
  const more = h('button', { type: 'button', class: 'quiet', hidden: true }, 'Load more');
  const listError = h('p', { class: 'form-error', role: 'alert' });
  const summary = h('p', { class: 'hint', 'aria-live': 'polite' });
  const panelSlot = h('div', { class: 'panel-slot' });
  let filters = { sort: 'newest' };
  let cursor = null;
  let panel = null;

  const minAmount = field('Min face value (₹)', { inputmode: 'decimal', autocomplete: 'off' });
  const maxAmount = field('Max face value (₹)', { inputmode: 'decimal', autocomplete: 'off' });
  const dueAfter = field('Due after', { type: 'date' });
  const dueBefore = field('Due before', { type: 'date' });
  const buyer = buyerPicker('Buyer', { optional: true });
  const sortId = 'market-sort';
  const sort = h('select', { id: sortId }, SORTS.map(([value, text]) => h('option', { value }, text)));
  const sellerFilter = h('p', { class: 'hint', hidden: true });
  const apply = h('button', { type: 'submit', class: 'primary' }, 'Apply filters');
  const reset = h('button', { type: 'reset', class: 'quiet' }, 'Clear');
  const filterForm = h('form', { class: 'filters card', 'aria-label': 'Filters' },
    minAmount.wrapper, maxAmount.wrapper, dueAfter.wrapper, dueBefore.wrapper, buyer.wrapper,
    h('div', { class: 'field' }, h('label', { for: sortId }, 'Sort'), sort), sellerFilter,
    h('div', { class: 'buttons' }, apply, reset));

  const table = responsiveTable(h('table', { class: 'data market' },
    h('caption', { class: 'visually-hidden' }, 'Listed invoices'),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'Invoice'), h('th', { scope: 'col' }, 'Seller'), h('th', { scope: 'col' }, 'Buyer'),
      h('th', { scope: 'col', class: 'num' }, 'Face value'), h('th', { scope: 'col', class: 'num' }, 'Ask'),
      h('th', { scope: 'col', class: 'num' }, 'Discount'), h('th', { scope: 'col', class: 'num' }, 'Yield p.a.'),
      h('th', { scope: 'col' }, 'Due'), h('th', { scope: 'col' }, 'Funding'), h('th', { scope: 'col' }, ''))),
    body));

  replaceChildren(root,
    h('h1', {}, 'Marketplace'),
    // open on a wide screen; on a phone the listings come first and the filters one tap away
    h('details', { class: 'filter-box', open: matchMedia('(min-width: 761px)').matches }, h('summary', {}, 'Filters and sort'), filterForm),
    h('div', { class: 'layout-main' },
      h('section', { class: 'card', 'aria-label': 'Listed invoices' }, summary, listError, h('div', { class: 'table-wrap' }, table), more),
      panelSlot));

  filterForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const next = { sort: sort.value, sellerId: filters.sellerId };
    for (const [control, name] of [[minAmount, 'minAmount'], [maxAmount, 'maxAmount']]) {
      control.error.textContent = '';
      if (!control.input.value.trim()) continue;
      try {
        next[name] = parseRupees(control.input.value);
      } catch (error) {
        if (!(error instanceof AmountError)) throw error;
        control.error.textContent = error.message;
        return;
      }
    }
    if (dueAfter.input.value) next.dueAfter = dueAfter.input.value;
    if (dueBefore.input.value) next.dueBefore = dueBefore.input.value;
    if (buyer.input.value) next.buyerId = buyer.input.value;
    filters = next;
    reload();
  });
  filterForm.addEventListener('reset', () => {
    filters = { sort: 'newest' };
    setTimeout(reload);
  });

  function filterBySeller(invoice) {
    filters = { ...filters, sellerId: invoice.sellerId };
    replaceChildren(sellerFilter, `Only ${invoice.seller}. `, h('button', {
      type: 'button', class: 'link', onclick: () => { filters = { ...filters, sellerId: undefined }; sellerFilter.hidden = true; reload(); },
    }, 'Any seller'));
    sellerFilter.hidden = false;
    reload();
  }

  function matches(invoice) {
    const due = Date.parse(invoice.dueDate);
    if (filters.minAmount !== undefined && invoice.amount < filters.minAmount) return false;
    if (filters.maxAmount !== undefined && invoice.amount > filters.maxAmount) return false;
    if (filters.dueAfter && due < Date.parse(filters.dueAfter)) return false;
    if (filters.dueBefore && due > Date.parse(filters.dueBefore)) return false;
    if (filters.sellerId && invoice.sellerId !== filters.sellerId) return false;
    if (filters.buyerId && invoice.buyerId !== filters.buyerId) return false;
    return true;
  }

  function row(invoice, isNew) {
    const days = daysTo(invoice.dueDate);
    const investButton = h('button', { type: 'button', class: 'primary', 'aria-label': `Invest in ${invoice.invoiceNumber}` }, 'Invest');
    investButton.addEventListener('click', () => openPanel(invoice.id));
    const progressCell = h('td', {});
    const statusCell = h('span', { class: 'row-status' });
    const sellerLink = h('button', { type: 'button', class: 'link', title: 'Show only this seller' }, invoice.seller);
    sellerLink.addEventListener('click', () => filterBySeller(invoice));
    const tr = h('tr', { class: isNew ? 'new' : '', dataset: { invoiceId: invoice.id } },
      h('th', { scope: 'row' }, invoice.invoiceNumber, isNew ? h('span', { class: 'tag' }, 'New') : null, statusCell),
      h('td', {}, sellerLink),
      h('td', {}, invoice.buyer),
      h('td', { class: 'num' }, formatPaise(invoice.amount)),
      h('td', { class: 'num' }, formatPaise(invoice.askAmount)),
      h('td', { class: 'num' }, formatBps(discountBps(invoice.amount, invoice.askAmount))),
      h('td', { class: 'num' }, formatBps(yieldBps(invoice.amount, invoice.askAmount, days))),
      h('td', {}, formatDate(invoice.dueDate), h('span', { class: 'days' }, days > 0 ? `${days} days` : 'due')),
      progressCell,
      h('td', {}, investButton));
    const entry = { invoice, tr, statusCell, progressCell, investButton };
    showProgress(entry);
    return entry;
  }

  function showProgress(entry) {
    const { invoice } = entry;
    if (invoice.minTicket !== null && invoice.minTicket !== undefined) {
      const sold = invoice.fundedClaim ?? 0;
      // a whole-number percentage for the eye; the figures beside it are exact
      const percent = Math.floor((sold * 100) / invoice.amount);
      replaceChildren(entry.progressCell,
        h('progress', { max: invoice.amount, value: sold, 'aria-label': `${invoice.invoiceNumber}: ${percent}% sold` }),
        h('span', { class: 'progress-text' }, `${percent}% sold · ${formatPaise(invoice.remainingClaim ?? invoice.amount - sold)} left · min ${formatPaise(invoice.minTicket)}`));
    } else {
      replaceChildren(entry.progressCell, h('span', { class: 'hint' }, 'Whole: buy now or bid'));
    }
    if (invoice.status && invoice.status !== 'listed') {
      entry.tr.classList.add('closed');
      entry.statusCell.textContent = ` · ${invoice.status}`;
      entry.investButton.disabled = true;
    }
  }

  // The API's order: by the sort's score, ties by id (both descending for newest, ascending otherwise).
  function sortKey(invoice) {
    if (filters.sort === 'amount') return invoice.amount;
    if (filters.sort === 'dueDate') return Date.parse(invoice.dueDate);
    return -Date.parse(invoice.timestamp ?? invoice.acceptedAt ?? invoice.createdAt);
  }

  function comesBefore(one, other) {
    const [a, b] = [sortKey(one), sortKey(other)];
    if (a !== b) return a < b;
    return filters.sort === 'newest' || !filters.sort ? one.id > other.id : one.id < other.id;
  }

  // live events, in one batch per animation frame
  const applyMarket = perFrame((frames) => {
    let added = 0;
    for (const frame of frames) {
      if (panel && panel.invoiceId === frame.data.id) panel.update(frame.data);
      if (frame.event === 'newInvoiceListed') {
        const invoice = { ...frame.data, status: 'listed' };
        if (rows.has(invoice.id) || !matches(invoice)) continue;
        const entry = row(invoice, true);
        if (!insertSorted(entry)) continue;
        highlighted.push([performance.now(), entry.tr]);
        added += 1;
      } else if (frame.event === 'invoiceUpdated') {
        const entry = rows.get(frame.data.id);
        if (!entry) continue;
        Object.assign(entry.invoice, frame.data);
        showProgress(entry);
      }
    }
    if (added) {
      trim();
      summary.textContent = `${added} new listing${added === 1 ? '' : 's'} just arrived.`;
    }
  });

  function trim() {
    if (rows.size <= ROWS_MAX) return;
    const ordered = [...rows.entries()];
    for (const [id, entry] of ordered.slice(ROWS_MAX)) {
      entry.tr.remove();
      rows.delete(id);
    }
    cursor = cursorOf(ordered[ROWS_MAX - 1][1].invoice);
    more.hidden = false;
  }

  // The API's cursor for "after this invoice" in the current sort: its score in that sort's index and
  // its id (docs/api.md): the listing time for newest, the face value, or the due date.
  function cursorOf(invoice) {
    return `${Math.abs(sortKey(invoice))}:${invoice.id}`;
  }

  // the highlight of a live listing lasts a few seconds; one timer clears them all, oldest first
  const highlighted = []; // [shown at, row]
  const sweeper = setInterval(() => {
    const cutoff = performance.now() - NEW_HIGHLIGHT_MS;
    while (highlighted.length && highlighted[0][0] < cutoff) highlighted.shift()[1].classList.remove('new');
  }, 1000);

  // Places a live listing where the current sort puts it among the loaded rows; one that sorts after
  // the last loaded row waits for "Load more" (the API returns it there).
  function insertSorted(entry) {
    let before = null;
    for (const other of rows.values()) {
      if (comesBefore(entry.invoice, other.invoice)) { before = other; break; }
    }
    if (!before && cursor) return false;
    if (before) body.insertBefore(entry.tr, before.tr);
    else body.append(entry.tr);
    // keep the map in display order for the next insert
    const ordered = [...rows.entries()];
    rows.clear();
    let placed = false;
    for (const [id, other] of ordered) {
      if (!placed && other === before) { rows.set(entry.invoice.id, entry); placed = true; }
      rows.set(id, other);
    }
    if (!placed) rows.set(entry.invoice.id, entry);
    body.querySelector('.empty-row')?.remove();
    return true;
  }

  let generation = 0; // a reload starts a new one: an answer of an older one is dropped

  async function loadPage(after) {
    const asked = after ? generation : ++generation;
    const page = await get('/api/invoices/marketplace', { ...filters, limit: PAGE, cursor: after ?? undefined });
    if (scope.closed || asked !== generation || (after && after !== cursor)) return;
    if (!after) {
      rows.clear();
      body.replaceChildren();
      summary.textContent = '';
    }
    const fragment = document.createDocumentFragment();
    for (const invoice of page.invoices) {
      if (rows.has(invoice.id)) continue;
      const entry = row(invoice, false);
      rows.set(invoice.id, entry);
      fragment.append(entry.tr);
    }
    body.append(fragment);
    if (rows.size === 0) body.append(h('tr', { class: 'empty-row' }, h('td', { colspan: 10 }, empty('No listed invoices match. New listings appear here as they arrive.'))));
    cursor = page.nextCursor;
    more.hidden = !cursor;
    listError.textContent = '';
  }

  // A page's answer may predate events that arrived while it was in flight: they are kept and applied
  // again on top of it (a listing already in the answer is not added twice; an update is absolute).
  const inFlight = new Set(); // one list of frames per page being read
  async function loadRecorded(after) {
    const arrived = [];
    inFlight.add(arrived);
    try {
      await loadPage(after);
      for (const frame of arrived) applyMarket(frame);
    } catch (error) {
      listError.textContent = error.message;
    } finally {
      inFlight.delete(arrived);
    }
  }
  const reload = coalesce(() => loadRecorded(null));
  onLoadMore(more, () => loadRecorded(cursor));

  function openPanel(invoiceId) {
    if (panel) panel.close();
    panel = investPanel(invoiceId, {
      setBalance,
      onClose: () => { panel = null; rows.get(invoiceId)?.investButton.focus(); },
    });
    replaceChildren(panelSlot, panel.element);
  }

  scope.on('event', (frame) => {
    if (frame.stream === 'market') {
      for (const arrived of inFlight) arrived.push(frame);
      applyMarket(frame);
    } else if (panel) {
      panel.userEvent(frame);
    }
  });
  scope.on('resync', reload);
  scope.onClose(() => {
    clearInterval(sweeper);
    panel?.close();
  });
  reload();
}
