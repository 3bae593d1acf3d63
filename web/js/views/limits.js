// Investor exposure limits per buyer: the most outstanding on a buyer's invoices, with current exposure.

import { call, get } from '../api.js';
import { coalesce } from '../coalesce.js';
import { clearSubmitted, empty, field, h, replaceChildren, responsiveTable } from '../dom.js';
import { AmountError, formatPaise, parseRupees } from '../money.js';
import { buyerPicker } from './buyers.js';

export function mount(root, { scope }) {
  const rows = h('tbody');
  const error = h('p', { class: 'form-error', role: 'alert' });
  const picker = buyerPicker('Buyer');
  const amount = field('Limit (₹)', { inputmode: 'decimal', autocomplete: 'off' }, 'Funding or bids past it are refused.');
  const save = h('button', { type: 'submit', class: 'primary' }, 'Set limit');
  const formError = h('p', { class: 'form-error', role: 'alert' });
  const form = h('form', { class: 'card' }, h('h2', {}, 'Set a limit'), picker.wrapper, amount.wrapper, formError, save);
  const table = responsiveTable(h('table', { class: 'data' },
    h('caption', { class: 'visually-hidden' }, 'Exposure limits'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Buyer'), h('th', { scope: 'col', class: 'num' }, 'Limit'),
      h('th', { scope: 'col', class: 'num' }, 'Exposure'), h('th', { scope: 'col' }, 'Used'), h('th', { scope: 'col' }, ''))),
    rows));
  replaceChildren(root, h('h1', {}, 'Exposure limits'),
    h('div', { class: 'layout-side' }, form, h('section', { class: 'card' }, h('h2', {}, 'Limits'), error, h('div', { class: 'table-wrap' }, table))));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    amount.error.textContent = '';
    formError.textContent = '';
    if (!picker.input.value) { picker.error.textContent = 'Choose a buyer.'; return; }
    let paise;
    const typed = amount.input.value;
    try {
      paise = parseRupees(typed);
    } catch (failure) {
      if (!(failure instanceof AmountError)) throw failure;
      amount.error.textContent = failure.message;
      return;
    }
    save.disabled = true;
    try {
      await call('PUT', `/api/users/limits/${picker.input.value}`, { body: { amount: paise } });
      clearSubmitted(amount.input, typed);
      refresh();
    } catch (failure) {
      formError.textContent = failure.message;
    } finally {
      save.disabled = false;
    }
  });

  function row(limit) {
    const remove = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove limit on ${limit.buyer}` }, 'Remove');
    remove.addEventListener('click', async () => {
      remove.disabled = true;
      try {
        await call('DELETE', `/api/users/limits/${limit.buyerId}`);
        refresh();
      } catch (failure) {
        error.textContent = failure.message;
        remove.disabled = false;
      }
    });
    return h('tr', {}, h('th', { scope: 'row' }, limit.buyer), h('td', { class: 'num' }, formatPaise(limit.amount)),
      h('td', { class: 'num' }, formatPaise(limit.exposure)),
      h('td', {}, h('meter', { min: 0, max: limit.amount, value: Math.min(limit.exposure, limit.amount), 'aria-label': `${limit.buyer} limit used` })),
      h('td', {}, remove));
  }

  const refresh = coalesce(async () => {
    try {
      const { limits } = await get('/api/users/limits');
      if (scope.closed) return;
      replaceChildren(rows, limits.length ? limits.map(row) : h('tr', {}, h('td', { colspan: 5 }, empty('No limits set: you may fund any buyer up to your balance.'))));
      error.textContent = '';
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  scope.on('event', (frame) => { if (frame.stream === 'user' && frame.event !== 'walletUpdated') refresh(); });
  scope.on('resync', refresh);
  refresh();
}
