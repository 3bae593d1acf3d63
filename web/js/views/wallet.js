// Wallet: balance, deposit and withdraw (simulated bank rails), transactions with "Load more".

import { get, MoneyAction } from '../api.js';
import { clearSubmitted, empty, field, formatDateTime, h, pagedList, replaceChildren, responsiveTable, showFigure } from '../dom.js';
import { AmountError, formatPaise, parseRupees } from '../money.js';

export function mount(root, { scope, setBalance }) {
  const balance = h('p', { class: 'big-figure', 'aria-live': 'polite' }, '…');
  const rows = h('tbody');
  const more = h('button', { type: 'button', class: 'quiet', hidden: true }, 'Load more');
  const listError = h('p', { class: 'form-error', role: 'alert' });

  const deposit = moneyForm('Deposit', 'Amount to deposit (₹)', '/api/wallet/deposit', 'Adds money from your bank (simulated).');
  const withdraw = moneyForm('Withdraw', 'Amount to withdraw (₹)', '/api/wallet/withdraw', 'Sends money to your bank (simulated).');

  const table = responsiveTable(h('table', { class: 'data' },
    h('caption', { class: 'visually-hidden' }, 'Wallet transactions, newest first'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'When'), h('th', { scope: 'col' }, 'Description'),
      h('th', { scope: 'col', class: 'num' }, 'Amount'), h('th', { scope: 'col', class: 'num' }, 'Balance after'))),
    rows));

  replaceChildren(root,
    h('h1', {}, 'Wallet'),
    h('div', { class: 'grid-3' },
      h('section', { class: 'card' }, h('h2', {}, 'Balance'), balance),
      deposit.form, withdraw.form),
    h('section', { class: 'card' }, h('h2', {}, 'Transactions'), listError, h('div', { class: 'table-wrap' }, table), more));

  function moneyForm(action, label, path, hint) {
    const amount = field(label, { inputmode: 'decimal', autocomplete: 'off', placeholder: '1,00,000.00' }, hint);
    const button = h('button', { type: 'submit', class: 'primary' }, action);
    const form = h('form', { class: 'card', 'aria-label': action }, h('h2', {}, action), amount.wrapper, button);
    const moneyAction = new MoneyAction(button, amount.error);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      let paise;
      const typed = amount.input.value;
      try {
        paise = parseRupees(typed);
      } catch (error) {
        if (error instanceof AmountError) { amount.error.textContent = error.message; return; }
        throw error;
      }
      const result = await moneyAction.run('POST', path, { amount: paise });
      if (result) {
        clearSubmitted(amount.input, typed);
        showBalance(result.wallet.balance);
        refresh();
      }
    });
    return { form };
  }

  function showBalance(value) {
    showFigure(balance, formatPaise(value));
    setBalance(value);
  }

  function row(transaction) {
    const sign = transaction.type === 'debit' ? '−' : '+';
    return h('tr', { class: transaction.type },
      h('td', {}, formatDateTime(transaction.createdAt)),
      h('td', {}, transaction.description),
      h('td', { class: `num ${transaction.type}` }, `${sign}${formatPaise(transaction.amount)}`),
      h('td', { class: 'num' }, formatPaise(transaction.balanceAfter)));
  }

  const refresh = pagedList({
    more, error: listError, pageSize: 20, scope,
    read: async (limit, before) => {
      const [page, wallet] = await Promise.all([
        get('/api/wallet/transactions', { limit, before }),
        before ? null : get('/api/wallet'),
      ]);
      return { ...page, wallet, count: page.transactions.length };
    },
    show: (page, appended) => {
      if (page.wallet) showBalance(page.wallet.balance);
      const built = page.transactions.map(row);
      if (appended) rows.append(...built);
      else replaceChildren(rows, built.length ? built : h('tr', {}, h('td', { colspan: 4 }, empty('No transactions yet. Deposit to start.'))));
    },
  });
  scope.on('event', (frame) => { if (frame.stream === 'user' && frame.event === 'walletUpdated') refresh(); });
  refresh();
}
