// Buyer: invoices awaiting my acceptance (accept, or reject with a reason) and invoices I owe, with due
// dates and what is outstanding; repay in full or in part.

import { get, moneyActions } from '../api.js';
import { clearSubmitted, daysTo, empty, formatDate, h, keyedRows, pagedList, replaceChildren, responsiveTable, statusBadge, uid, showFigure } from '../dom.js';
import { AmountError, formatPaise, parseRupees } from '../money.js';

const REPAYABLE = new Set(['funded', 'overdue', 'defaulted']);

export function mount(root, { user, scope, setBalance }) {
  const pendingRows = h('tbody');
  const owedRows = h('tbody');
  const error = h('p', { class: 'form-error', role: 'alert' });
  const more = h('button', { type: 'button', class: 'quiet', hidden: true }, 'Load more');
  const totalOutstanding = h('p', { class: 'big-figure' }, '…');
  const pendingSection = h('section', { class: 'card', hidden: true, 'aria-labelledby': 'pending-title' },
    h('h2', { id: 'pending-title' }, 'Awaiting your acceptance'),
    h('p', { class: 'hint' }, 'Sellers ask you to confirm these invoices before investors can fund them. Acceptance cannot be undone.'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Invoice'), h('th', { scope: 'col' }, 'Seller'),
        h('th', { scope: 'col', class: 'num' }, 'Amount'), h('th', { scope: 'col' }, 'Due'), h('th', { scope: 'col' }, 'Answer by'),
        h('th', { scope: 'col' }, 'Your answer'))),
      pendingRows)));
  const owedTable = responsiveTable(h('table', { class: 'data' },
    h('caption', { class: 'visually-hidden' }, 'Invoices you owe'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Invoice'), h('th', { scope: 'col' }, 'Seller'),
      h('th', { scope: 'col', class: 'num' }, 'Amount'), h('th', { scope: 'col' }, 'Due'), h('th', { scope: 'col' }, 'Status'),
      h('th', { scope: 'col', class: 'num' }, 'Outstanding'), h('th', { scope: 'col' }, 'Repay'))),
    owedRows));
  replaceChildren(root, h('h1', {}, 'Invoices'), error,
    // the dashboard's figure counts listed invoices too (owed on their due date all the same), while a row's
    // Outstanding is what can be repaid now: the card says which it is
    h('div', { class: 'grid-3' }, h('section', { class: 'card' }, h('h2', {}, 'Owed in all'), totalOutstanding,
      h('p', { class: 'hint' }, 'Face value of your invoices not yet repaid, funded or still listed. You repay an invoice once it is funded.'))),
    pendingSection,
    h('section', { class: 'card' }, h('h2', {}, 'Invoices you owe'), h('div', { class: 'table-wrap' }, owedTable), more));
  // rows are rebuilt by live updates; their money actions (and a retry's Idempotency-Key) outlive them
  const moneyAction = moneyActions();

  function pendingRow(invoice) {
    const accept = h('button', { type: 'button', class: 'primary', 'aria-label': `Accept ${invoice.invoiceNumber}` }, 'Accept');
    const reasonId = uid('reason');
    const reason = h('input', { id: reasonId, maxlength: 500, autocomplete: 'off', placeholder: 'e.g. goods not received' });
    const reject = h('button', { type: 'button', class: 'danger', 'aria-label': `Reject ${invoice.invoiceNumber}` }, 'Reject');
    const rowError = h('p', { class: 'field-error', role: 'alert' });
    const acceptAction = moneyAction(`${invoice.id}:accept`, accept, rowError);
    const rejectAction = moneyAction(`${invoice.id}:reject`, reject, rowError);
    accept.addEventListener('click', async () => {
      if (await acceptAction.run('POST', `/api/invoices/${invoice.id}/accept`, {})) refresh();
    });
    reject.addEventListener('click', async () => {
      if (!reason.value.trim()) {
        rowError.textContent = 'Give the seller a reason to reject.';
        reason.focus();
        return;
      }
      if (await rejectAction.run('POST', `/api/invoices/${invoice.id}/reject`, { reason: reason.value.trim() })) refresh();
    });
    return h('tr', { dataset: { invoiceId: invoice.id } },
      h('th', { scope: 'row' }, invoice.invoiceNumber), h('td', {}, invoice.seller),
      h('td', { class: 'num' }, formatPaise(invoice.amount)), h('td', {}, formatDate(invoice.dueDate)),
      h('td', {}, formatDate(invoice.acceptBy)),
      h('td', { class: 'actions' }, accept,
        h('span', { class: 'inline-field' }, h('label', { for: reasonId }, `Reason to reject ${invoice.invoiceNumber}`), reason), reject, rowError));
  }

  function owedRow(invoice) {
    const cell = h('td', { class: 'actions' });
    if (REPAYABLE.has(invoice.status)) {
      const amountId = uid('repay');
      const amount = h('input', { id: amountId, inputmode: 'decimal', autocomplete: 'off', placeholder: 'Amount' });
      const repay = h('button', { type: 'button', class: 'primary', 'aria-label': `Repay ${invoice.invoiceNumber}` }, 'Repay');
      const repayAll = h('button', { type: 'button', 'aria-label': `Repay all ${formatPaise(invoice.outstanding)} of ${invoice.invoiceNumber}` },
        'Repay all');
      const rowError = h('p', { class: 'field-error', role: 'alert' });
      const action = moneyAction(`${invoice.id}:repay`, repay, rowError);
      const allAction = moneyAction(`${invoice.id}:repay-all`, repayAll, rowError);
      const pay = async (moneyAction, paise) => {
        const typed = amount.value;
        const answer = await moneyAction.run('POST', `/api/invoices/${invoice.id}/repay`, { amount: paise });
        if (answer) {
          clearSubmitted(amount, typed);
          setBalance(answer.wallet.balance);
          refresh();
        }
      };
      repay.addEventListener('click', () => {
        try {
          pay(action, parseRupees(amount.value));
        } catch (failure) {
          if (!(failure instanceof AmountError)) throw failure;
          rowError.textContent = amount.value.trim() ? failure.message : 'Enter the amount to repay, or use Repay all.';
        }
      });
      // what is shown is what is paid: if another payment changed it meanwhile, the API refuses this one
      repayAll.addEventListener('click', () => pay(allAction, invoice.outstanding));
      cell.append(h('span', { class: 'inline-field' }, h('label', { for: amountId }, `Amount to repay on ${invoice.invoiceNumber} (₹)`), amount),
        repay, repayAll, rowError);
    } else {
      cell.append(h('span', { class: 'hint' }, invoice.status === 'listed' ? 'Not funded yet' : '—'));
    }
    const days = daysTo(invoice.dueDate);
    return h('tr', { class: invoice.status === 'overdue' || invoice.status === 'defaulted' ? 'late' : '', dataset: { invoiceId: invoice.id } },
      h('th', { scope: 'row' }, invoice.invoiceNumber), h('td', {}, invoice.seller),
      h('td', { class: 'num' }, formatPaise(invoice.amount)),
      h('td', {}, formatDate(invoice.dueDate), h('span', { class: 'days' }, days >= 0 ? `in ${days} days` : `${-days} days late`)),
      h('td', {}, statusBadge(invoice.status)),
      h('td', { class: 'num' }, invoice.outstanding === null ? '—' : formatPaise(invoice.outstanding)),
      cell);
  }

  let owedItems = []; // the invoices the owed table shows, every page loaded
  const refresh = pagedList({
    more, error, pageSize: 50, scope,
    read: async (limit, cursor) => {
      const [pending, owed, dashboard] = await Promise.all([
        cursor ? null : get('/api/invoices/buyer', { status: 'pending_acceptance', limit: 100 }),
        get('/api/invoices/buyer', { limit, cursor }),
        cursor ? null : get('/api/users/dashboard'),
      ]);
      return { pending, owed, dashboard, count: owed.invoices.length, nextCursor: owed.nextCursor };
    },
    show: ({ pending, owed, dashboard }, appended) => {
      if (pending) {
        pendingSection.hidden = pending.invoices.length === 0;
        keyedRows(pendingRows, pending.invoices, (invoice) => invoice.id, pendingRow);
      }
      if (dashboard) showFigure(totalOutstanding, formatPaise(dashboard.stats.outstandingAmount));
      const shown = owed.invoices.filter((invoice) => invoice.status !== 'pending_acceptance');
      // every shown row is keyed, appended pages too: a refresh keeps the rows (and the amounts typed in
      // them) whose invoice did not change
      const known = appended ? new Set(owedItems.map((invoice) => invoice.id)) : new Set();
      owedItems = appended ? owedItems.concat(shown.filter((invoice) => !known.has(invoice.id))) : shown;
      keyedRows(owedRows, owedItems, (invoice) => invoice.id, owedRow, h('tr', {}, h('td', { colspan: 7 }, empty('No invoices name you as their buyer yet.'))));
    },
  });
  scope.on('event', (frame) => {
    if (frame.stream === 'user' && frame.event !== 'walletUpdated') refresh();
    else if (frame.event === 'newInvoiceListed' && frame.data.buyerId === user.id) refresh();
    else if (frame.event === 'invoiceUpdated' && owedRows.querySelector(`[data-invoice-id="${CSS.escape(frame.data.id)}"]`)) refresh();
  });
  refresh();
}
