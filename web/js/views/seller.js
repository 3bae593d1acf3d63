// Seller: list an invoice (whole, or fractional with a minimum ticket and a funding deadline), my
// invoices with live status, bids on a whole invoice with Accept, cancel.

import { get, MoneyAction, moneyActions } from '../api.js';
import { clearSubmitted, empty, field, formatDate, h, pagedList, replaceChildren, statusBadge, uid, responsiveTable } from '../dom.js';
import { AmountError, formatBps, formatPaise, parseRupees } from '../money.js';
import { buyerPicker } from './buyers.js';

const PAGE = 50;

export function mount(root, { scope }) {
  const rows = h('tbody');
  const listError = h('p', { class: 'form-error', role: 'alert' });
  const more = h('button', { type: 'button', class: 'quiet', hidden: true }, 'Load more');
  const openBids = new Map(); // invoice id -> refresh function of its open bids row
  const statuses = new Map(); // invoice id -> status last shown, to highlight changes
  // rows are rebuilt by live updates; their money actions (and a retry's Idempotency-Key) outlive them
  const moneyAction = moneyActions();

  const table = responsiveTable(h('table', { class: 'data' },
    h('caption', { class: 'visually-hidden' }, 'My invoices, newest first'),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'Invoice'), h('th', { scope: 'col' }, 'Buyer'), h('th', { scope: 'col', class: 'num' }, 'Face value'),
      h('th', { scope: 'col', class: 'num' }, 'Ask'), h('th', { scope: 'col' }, 'Due'), h('th', { scope: 'col' }, 'Status'),
      h('th', { scope: 'col' }, 'Funding'), h('th', { scope: 'col' }, 'Actions'))),
    rows));

  replaceChildren(root,
    h('h1', {}, 'My invoices'),
    h('div', { class: 'layout-side' },
      createForm(() => refresh()),
      h('section', { class: 'card' }, h('h2', {}, 'Invoices'), listError, h('div', { class: 'table-wrap' }, table), more)));

  function invoiceRows(invoice) {
    const changed = statuses.has(invoice.id) && statuses.get(invoice.id) !== invoice.status;
    statuses.set(invoice.id, invoice.status);
    const actions = h('td', { class: 'actions' });
    const cancelError = h('p', { class: 'field-error', role: 'alert' });
    if (invoice.status === 'listed') {
      const cancel = h('button', { type: 'button', class: 'danger', 'aria-label': `Cancel ${invoice.invoiceNumber}` }, 'Cancel');
      const action = moneyAction(`${invoice.id}:cancel`, cancel, cancelError);
      cancel.addEventListener('click', async () => {
        if (await action.run('POST', `/api/invoices/${invoice.id}/cancel`, {})) refresh();
      });
      actions.append(cancel);
      if (invoice.minTicket === null) {
        const bidsButton = h('button', { type: 'button', 'aria-expanded': String(openBids.has(invoice.id)), 'aria-label': `Bids on ${invoice.invoiceNumber}` }, 'Bids');
        bidsButton.addEventListener('click', () => {
          if (openBids.has(invoice.id)) openBids.delete(invoice.id);
          else openBids.set(invoice.id, null);
          refresh();
        });
        actions.append(bidsButton);
      }
    }
    actions.append(cancelError);
    const row = h('tr', { class: changed ? 'changed' : '', dataset: { invoiceId: invoice.id } },
      h('th', { scope: 'row' }, invoice.invoiceNumber),
      h('td', {}, invoice.buyer),
      h('td', { class: 'num' }, formatPaise(invoice.amount)),
      h('td', { class: 'num' }, formatPaise(invoice.askAmount)),
      h('td', {}, formatDate(invoice.dueDate)),
      h('td', {}, statusBadge(invoice.status)),
      h('td', {}, fundingText(invoice)),
      actions);
    if (!openBids.has(invoice.id) || invoice.status !== 'listed') return [row];
    const bidsCell = h('td', { colspan: 8 }, h('p', { class: 'hint' }, 'Loading bids…'));
    openBids.set(invoice.id, () => loadBids(invoice, bidsCell));
    openBids.get(invoice.id)();
    return [row, h('tr', { class: 'sub-row' }, bidsCell)];
  }

  async function loadBids(invoice, cell) {
    try {
      const { bids } = await get(`/api/invoices/${invoice.id}/bids`);
      if (scope.closed) return;
      replaceChildren(cell, bids.length === 0 ? empty(`No bids on ${invoice.invoiceNumber} yet.`) : h('table', { class: 'data compact' },
        h('caption', {}, `Bids on ${invoice.invoiceNumber}, highest first`),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Investor'), h('th', { scope: 'col', class: 'num' }, 'Bid'),
          h('th', { scope: 'col', class: 'num' }, 'Discount p.a.'), h('th', { scope: 'col' }, 'Valid until'), h('th', { scope: 'col' }, ''))),
        h('tbody', {}, bids.map((bid) => bidRow(invoice, bid)))));
    } catch (error) {
      replaceChildren(cell, h('p', { class: 'form-error', role: 'alert' }, error.message));
    }
  }

  function bidRow(invoice, bid) {
    const accept = h('button', { type: 'button', class: 'primary', 'aria-label': `Accept bid of ${formatPaise(bid.amount)} from ${bid.investor}` }, 'Accept');
    const error = h('p', { class: 'field-error', role: 'alert' });
    const action = moneyAction(`${invoice.id}:accept:${bid.id}`, accept, error);
    accept.addEventListener('click', async () => {
      if (await action.run('POST', `/api/invoices/${invoice.id}/bids/${bid.id}/accept`, {})) {
        openBids.delete(invoice.id);
        refresh();
      }
    });
    return h('tr', {}, h('td', {}, bid.investor), h('td', { class: 'num' }, formatPaise(bid.amount)),
      h('td', { class: 'num' }, formatBps(bid.discountRateBps)), h('td', {}, bid.validUntil ? formatDate(bid.validUntil) : '—'),
      h('td', {}, accept, error));
  }

  const refresh = pagedList({
    more, error: listError, pageSize: PAGE, scope,
    read: async (limit, cursor) => {
      const page = await get('/api/invoices/seller', { limit, cursor });
      return { ...page, count: page.invoices.length };
    },
    show: (page, appended) => {
      const built = page.invoices.flatMap(invoiceRows);
      if (appended) rows.append(...built);
      else replaceChildren(rows, built.length ? built : h('tr', {}, h('td', { colspan: 8 }, empty('No invoices yet. List your first invoice with the form.'))));
    },
  });
  scope.on('event', (frame) => {
    if ((frame.stream === 'user' && frame.event !== 'walletUpdated') || (frame.event === 'invoiceUpdated' && statuses.has(frame.data.id))) refresh();
  });
  refresh();
}

function fundingText(invoice) {
  if (invoice.minTicket !== null) {
    const sold = invoice.fundedClaim ?? 0;
    return h('span', {}, `${formatPaise(sold)} of ${formatPaise(invoice.amount)} sold`,
      h('progress', { max: invoice.amount, value: sold, 'aria-label': `${invoice.invoiceNumber} claims sold` }));
  }
  if (invoice.fundedAmount !== null) {
    const outstanding = invoice.outstanding ?? 0;
    return `Funded ${formatPaise(invoice.fundedAmount)}${outstanding > 0 ? `; ${formatPaise(outstanding)} to repay` : ''}`;
  }
  return 'Buy now or bids';
}

// The "List invoice" form. Refusals are shown beside the field they concern.
function createForm(onCreated) {
  const picker = buyerPicker('Buyer');
  const number = field('Invoice number', { required: true, maxlength: 64, autocomplete: 'off' });
  const amount = field('Face value (₹)', { required: true, inputmode: 'decimal', autocomplete: 'off', placeholder: '5,00,000.00' });
  const ask = field('Ask (₹)', { required: true, inputmode: 'decimal', autocomplete: 'off', placeholder: '4,80,000.00' },
    'The least you accept today for the whole face value.');
  const due = field('Due date', { type: 'date', required: true });
  const description = field('Description (optional)', { tag: 'textarea', maxlength: 1000, rows: 2 });
  const kind = uid('kind');
  const whole = h('input', { type: 'radio', name: kind, id: `${kind}-whole`, value: 'whole', checked: true });
  const fractional = h('input', { type: 'radio', name: kind, id: `${kind}-fractional`, value: 'fractional' });
  const ticket = field('Minimum ticket (₹)', { inputmode: 'decimal', autocomplete: 'off', placeholder: '10,000.00' },
    'Investors buy claims of at least this face value.');
  const deadline = field('Funding deadline (optional)', { type: 'date' }, 'Sold in full by then, or every claim is refunded. Default: the due date.');
  const fractionalFields = h('div', { class: 'fractional-fields', hidden: true }, ticket.wrapper, deadline.wrapper);
  const onKind = () => { fractionalFields.hidden = !fractional.checked; };
  whole.addEventListener('change', onKind);
  fractional.addEventListener('change', onKind);
  const button = h('button', { type: 'submit', class: 'primary' }, 'List invoice');
  const formError = h('p', { class: 'form-error', role: 'alert' });
  const action = new MoneyAction(button, formError);
  const form = h('form', { class: 'card create-invoice', 'aria-labelledby': 'create-title' },
    h('h2', { id: 'create-title' }, 'List an invoice'),
    picker.wrapper, number.wrapper, h('div', { class: 'pair' }, amount.wrapper, ask.wrapper), due.wrapper,
    h('fieldset', {}, h('legend', {}, 'How it is sold'),
      h('div', { class: 'choice' }, whole, h('label', { for: whole.id }, 'Whole invoice: buy now, or investors bid and you accept one')),
      h('div', { class: 'choice' }, fractional, h('label', { for: fractional.id }, 'Fractional: many investors buy claims'))),
    fractionalFields, description.wrapper, formError, button);

  const fields = { buyerId: picker, invoiceNumber: number, amount, askAmount: ask, dueDate: due, minTicket: ticket, fundingDeadline: deadline };
  const CODE_FIELDS = {
    invalid_buyer: 'buyerId', duplicate_invoice: 'invoiceNumber', ask_above_amount: 'askAmount',
    amount_out_of_range: 'askAmount', due_date_not_in_future: 'dueDate', claim_out_of_range: 'minTicket',
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    for (const each of Object.values(fields)) each.error.textContent = '';
    const body = { invoiceNumber: number.input.value.trim(), buyerId: picker.input.value };
    let bad = false;
    for (const [name, control] of [['amount', amount], ['askAmount', ask]].concat(fractional.checked ? [['minTicket', ticket]] : [])) {
      try {
        body[name] = parseRupees(control.input.value);
      } catch (error) {
        if (!(error instanceof AmountError)) throw error;
        control.error.textContent = error.message;
        bad = true;
      }
    }
    if (!body.buyerId) { picker.error.textContent = 'Choose the buyer who owes this invoice.'; bad = true; }
    if (!due.input.value) { due.error.textContent = 'Choose the due date.'; bad = true; }
    if (bad) return;
    body.dueDate = due.input.value;
    if (description.input.value.trim()) body.description = description.input.value;
    if (fractional.checked && deadline.input.value) body.fundingDeadline = `${deadline.input.value}T00:00:00Z`;
    const submitted = [number, amount, ask, ticket, description].map((each) => [each.input, each.input.value]);
    const result = await action.run('POST', '/api/invoices/create', body);
    if (!result) {
      const failed = fields[CODE_FIELDS[action.lastCode]];
      if (failed) { failed.error.textContent = formError.textContent; formError.textContent = ''; }
      return;
    }
    for (const [input, value] of submitted) clearSubmitted(input, value);
    onCreated(result.invoice);
  });
  return form;
}
