// The invest panel of one listed invoice: Fund (whole invoice, any price from the ask to the face
// value), Buy claim (fractional: the price of the claim is shown exactly as the server will charge it),
// Place bid / Withdraw bid (whole invoice, funds held until the seller decides).

import { get, MoneyAction } from '../api.js';
import { daysTo, field, formatDate, h, replaceChildren } from '../dom.js';
import { AmountError, claimPrice, discountBps, formatBps, formatPaise, paiseToInput, parseRupees, yieldBps } from '../money.js';

const BID_EVENTS = new Set(['bidAccepted', 'bidRejected', 'bidExpired']);

export function investPanel(invoiceId, { setBalance, onClose }) {
  const title = h('h2', { id: `invest-${invoiceId}` }, 'Loading…');
  const content = h('div', {});
  const result = h('p', { class: 'success', role: 'status' });
  const closeButton = h('button', { type: 'button', class: 'quiet close' }, 'Close');
  const element = h('section', { class: 'card invest-panel', 'aria-labelledby': `invest-${invoiceId}` },
    h('div', { class: 'panel-head' }, title, closeButton), content, result);
  let invoice = null;
  let claimInput = null;
  let priceText = null;
  let bidState = null;

  const close = () => {
    element.remove();
    document.removeEventListener('keydown', onKey);
    onClose();
  };
  const onKey = (event) => { if (event.key === 'Escape') close(); };
  closeButton.addEventListener('click', close);
  document.addEventListener('keydown', onKey);

  async function load() {
    try {
      ({ invoice } = await get(`/api/invoices/${invoiceId}`));
      render();
    } catch (error) {
      replaceChildren(content, h('p', { class: 'form-error', role: 'alert' }, error.message));
    }
  }

  function render() {
    bidState = null;
    claimInput = null;
    priceText = null;
    title.textContent = `Invest in ${invoice.invoiceNumber}`;
    const days = daysTo(invoice.dueDate);
    const facts = h('dl', { class: 'facts' },
      fact('Seller', invoice.seller), fact('Buyer', invoice.buyer), fact('Face value', formatPaise(invoice.amount)),
      fact('Ask', formatPaise(invoice.askAmount)), fact('Due', `${formatDate(invoice.dueDate)} (${days} days)`),
      fact('Discount', formatBps(discountBps(invoice.amount, invoice.askAmount))),
      fact('Yield at the ask', `${formatBps(yieldBps(invoice.amount, invoice.askAmount, days))} p.a.`),
      fact('Status', invoice.status),
      invoice.description ? fact('Description', invoice.description) : null);
    if (invoice.status !== 'listed') {
      replaceChildren(content, facts, h('p', { class: 'notice' }, `This invoice is ${invoice.status}: it is no longer for sale.`));
      return;
    }
    if (invoice.minTicket !== null) replaceChildren(content, facts, claimForm());
    else replaceChildren(content, facts, fundForm(), bidForm());
    content.querySelector('input')?.focus();
  }

  function fundForm() {
    const amount = field('Amount (₹)', { inputmode: 'decimal', autocomplete: 'off', value: paiseToInput(invoice.askAmount) },
      `From ${formatPaise(invoice.askAmount)} to ${formatPaise(invoice.amount)}; you receive ${formatPaise(invoice.amount)} at maturity.`);
    const button = h('button', { type: 'submit', class: 'primary' }, 'Fund');
    const action = new MoneyAction(button, amount.error);
    const form = h('form', { class: 'sub-form', 'aria-label': 'Buy the whole invoice now' }, h('h3', {}, 'Buy now'), amount.wrapper, button);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const paise = parsed(amount);
      if (paise === null) return;
      const answer = await action.run('POST', `/api/invoices/${invoice.id}/fund`, { amount: paise });
      if (answer) done(answer, `Funded ${answer.invoice.invoiceNumber} for ${formatPaise(answer.investment.amount)}; expected return ${formatPaise(answer.investment.expectedReturn)}.`);
    });
    return form;
  }

  function claimForm() {
    const remaining = invoice.remainingClaim;
    const suggested = Math.min(invoice.minTicket, remaining);
    const claim = field('Claim (₹ of face value)', { inputmode: 'decimal', autocomplete: 'off', value: paiseToInput(suggested) },
      `At least ${formatPaise(invoice.minTicket)} (or exactly the ${formatPaise(remaining)} left).`);
    claimInput = claim.input;
    priceText = h('p', { class: 'price', 'aria-live': 'polite' });
    const progress = h('p', { class: 'hint' }, `${formatPaise(invoice.fundedClaim)} of ${formatPaise(invoice.amount)} sold.`);
    const button = h('button', { type: 'submit', class: 'primary' }, 'Buy claim');
    const action = new MoneyAction(button, claim.error);
    claim.input.addEventListener('input', showPrice);
    const form = h('form', { class: 'sub-form', 'aria-label': 'Buy a claim' }, h('h3', {}, 'Buy a claim'), progress, claim.wrapper, priceText, button);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const paise = parsed(claim);
      if (paise === null) return;
      const answer = await action.run('POST', `/api/invoices/${invoice.id}/fund`, { claim: paise });
      if (answer) done(answer, `Bought a claim of ${formatPaise(answer.investment.claim)} on ${answer.invoice.invoiceNumber} for ${formatPaise(answer.investment.amount)}.`);
    });
    showPrice();
    return form;
  }

  function showPrice() {
    if (!priceText || !claimInput) return;
    try {
      const claim = parseRupees(claimInput.value);
      if (claim > invoice.remainingClaim) throw new AmountError(`Only ${formatPaise(invoice.remainingClaim)} is left.`);
      priceText.textContent = `You pay ${formatPaise(claimPrice(invoice.fundedClaim, claim, invoice.askAmount, invoice.amount))} now and receive ${formatPaise(claim)} at maturity.`;
    } catch (error) {
      priceText.textContent = error instanceof AmountError ? '' : String(error);
    }
  }

  function bidForm() {
    const amount = field('Bid (₹)', { inputmode: 'decimal', autocomplete: 'off' },
      `From ${formatPaise(invoice.askAmount)} to ${formatPaise(invoice.amount)}. The money is held until the seller decides.`);
    const validUntil = field('Valid until (optional)', { type: 'date' });
    const place = h('button', { type: 'submit', class: 'primary' }, 'Place bid');
    const withdraw = h('button', { type: 'button', class: 'danger', hidden: true }, 'Withdraw bid');
    const mine = h('p', { class: 'hint', 'aria-live': 'polite' });
    const placeAction = new MoneyAction(place, amount.error);
    const withdrawAction = new MoneyAction(withdraw, amount.error);
    const form = h('form', { class: 'sub-form', 'aria-label': 'Bid' }, h('h3', {}, 'Or bid'), mine, amount.wrapper, validUntil.wrapper,
      h('div', { class: 'buttons' }, place, withdraw));
    bidState = { mine, withdraw, refresh: showMine };
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const paise = parsed(amount);
      if (paise === null) return;
      const body = { amount: paise };
      if (validUntil.input.value) body.validUntil = `${validUntil.input.value}T00:00:00Z`;
      const answer = await placeAction.run('POST', `/api/invoices/${invoice.id}/bids`, body);
      if (answer) {
        setBalance(answer.wallet.balance);
        result.textContent = `Bid of ${formatPaise(answer.bid.amount)} placed; ${formatPaise(answer.bid.amount)} is held for it.`;
        showMine();
      }
    });
    withdraw.addEventListener('click', async () => {
      const answer = await withdrawAction.run('DELETE', `/api/invoices/${invoice.id}/bids/mine`);
      if (answer) {
        setBalance(answer.wallet.balance);
        result.textContent = `Bid withdrawn; ${formatPaise(answer.bid.amount)} is back in your wallet.`;
        showMine();
      }
    });
    showMine();
    return form;
  }

  async function showMine() {
    const shown = bidState;
    if (!shown) return;
    try {
      const { bids } = await get(`/api/invoices/${invoice.id}/bids`);
      if (bidState !== shown) return; // the panel moved on (funded, closed) meanwhile
      const own = bids[0];
      shown.mine.textContent = own ? `Your bid: ${formatPaise(own.amount)} (${formatBps(own.discountRateBps)} p.a.)` : 'You have no bid on this invoice.';
      shown.withdraw.hidden = !own;
    } catch (error) {
      if (bidState === shown) shown.mine.textContent = error.message;
    }
  }

  function done(answer, message) {
    setBalance(answer.wallet.balance);
    invoice = answer.invoice;
    result.textContent = message;
    render();
  }

  function parsed(control) {
    try {
      return parseRupees(control.input.value);
    } catch (error) {
      if (!(error instanceof AmountError)) throw error;
      control.error.textContent = error.message;
      return null;
    }
  }

  load();
  return {
    element,
    invoiceId,
    close,
    // a market event about this invoice: its status or claims moved on
    update(data) {
      if (!invoice) return;
      const before = invoice.status;
      Object.assign(invoice, data);
      if (invoice.status !== before) render();
      else if (invoice.minTicket !== null) {
        const hint = content.querySelector('.sub-form .hint');
        if (hint) hint.textContent = `${formatPaise(invoice.fundedClaim)} of ${formatPaise(invoice.amount)} sold.`;
        showPrice();
      }
    },
    // the fate of my bid on this invoice, from the event alone (once the invoice is sold to someone
    // else, its bids are no longer mine to read)
    userEvent(frame) {
      if (!BID_EVENTS.has(frame.event) || frame.data?.invoiceId !== invoiceId || !invoice) return;
      if (frame.event === 'bidAccepted') {
        invoice.status = 'funded';
        result.textContent = `Your bid of ${formatPaise(frame.data.amount)} was accepted.`;
        render();
      } else if (bidState) {
        bidState.mine.textContent = `Your bid of ${formatPaise(frame.data.amount)} was refunded.`;
        bidState.withdraw.hidden = true;
      }
    },
  };
}

function fact(name, value) {
  return [h('dt', {}, name), h('dd', {}, value)];
}

