// Investor portfolio: totals, and every investment with its invoice, expected return and received.

import { get } from '../api.js';
import { empty, formatDate, h, pagedList, replaceChildren, statusBadge, responsiveTable } from '../dom.js';
import { formatCount, formatPaise } from '../money.js';

const TOTALS = [['invested', 'Invested'], ['expectedReturn', 'Expected return'], ['profit', 'Expected profit'],
  ['realized', 'Received'], ['realizedProfit', 'Realised profit'], ['active', 'Active (cost)'],
  ['reserved', 'Reserved: claims of invoices still filling'], ['defaulted', 'Defaulted (cost)']];

export function mount(root, { scope }) {
  const totals = h('div', { class: 'stats' });
  const rows = h('tbody');
  const more = h('button', { type: 'button', class: 'quiet', hidden: true }, 'Load more');
  const error = h('p', { class: 'form-error', role: 'alert' });
  const table = responsiveTable(h('table', { class: 'data' },
    h('caption', { class: 'visually-hidden' }, 'My investments, newest first'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Invoice'), h('th', { scope: 'col' }, 'Seller / buyer'),
      h('th', { scope: 'col', class: 'num' }, 'Claim'), h('th', { scope: 'col', class: 'num' }, 'Paid'),
      h('th', { scope: 'col', class: 'num' }, 'Expected return'), h('th', { scope: 'col', class: 'num' }, 'Received'),
      h('th', { scope: 'col' }, 'Due'), h('th', { scope: 'col' }, 'Status'))),
    rows));
  replaceChildren(root, h('h1', {}, 'Portfolio'), error, totals,
    h('section', { class: 'card' }, h('h2', {}, 'Investments'), h('div', { class: 'table-wrap' }, table), more));

  function row(item) {
    return h('tr', {},
      h('th', { scope: 'row' }, item.invoice.invoiceNumber),
      h('td', {}, `${item.invoice.seller} → ${item.invoice.buyer}`),
      h('td', { class: 'num' }, formatPaise(item.claim)),
      h('td', { class: 'num' }, formatPaise(item.amount)),
      h('td', { class: 'num' }, formatPaise(item.expectedReturn)),
      h('td', { class: 'num' }, formatPaise(item.received)),
      h('td', {}, formatDate(item.invoice.dueDate)),
      h('td', {}, statusBadge(item.status), ' ', h('span', { class: 'hint' }, `invoice ${item.invoice.status}`)));
  }

  const refresh = pagedList({
    more, error, pageSize: 50, scope,
    read: async (limit, cursor) => {
      const page = await get('/api/users/portfolio', { limit, cursor });
      return { ...page, count: page.investments.length };
    },
    show: (page, appended) => {
      if (appended) {
        rows.append(...page.investments.map(row));
        return;
      }
      replaceChildren(totals, TOTALS.map(([name, label]) => h('div', { class: 'stat' }, h('p', { class: 'stat-label' }, label),
        h('p', { class: 'stat-value' }, formatPaise(page.totals[name])))),
      h('div', { class: 'stat' }, h('p', { class: 'stat-label' }, 'Investments'), h('p', { class: 'stat-value' }, formatCount(page.totals.count))));
      replaceChildren(rows, page.investments.length ? page.investments.map(row) : h('tr', {}, h('td', { colspan: 8 }, empty('No investments yet. Fund an invoice in the marketplace.'))));
    },
  });
  scope.on('event', (frame) => { if (frame.stream === 'user' && frame.event !== 'walletUpdated') refresh(); });
  refresh();
}
