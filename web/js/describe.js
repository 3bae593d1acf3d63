// One line of plain text for each event a user receives, for the notifications list.

import { formatPaise } from './money.js';

const money = (value) => (typeof value === 'number' ? formatPaise(value) : '');

const DESCRIPTIONS = {
  walletUpdated: (d) => `Wallet ${d.transaction?.type === 'debit' ? 'debited' : 'credited'} ${money(d.transaction?.amount)}: ${d.transaction?.description ?? ''}. Balance ${money(d.balance)}`,
  invoiceFunded: (d) => `Invoice ${d.invoiceNumber} funded by ${d.investor} for ${money(d.amount)}`,
  investmentSuccess: (d) => (d.claim !== undefined
    ? `You bought a claim of ${money(d.claim)} on ${d.invoiceNumber} for ${money(d.amount)}`
    : `You funded ${d.invoiceNumber} for ${money(d.amount)}; expected return ${money(d.expectedReturn)}`),
  invoiceRepaid: (d) => `Repayment of ${money(d.amount)} on ${d.invoiceNumber}; outstanding ${money(d.outstanding ?? 0)}`,
  acceptanceRequested: (d) => `${d.seller} asks you to accept invoice ${d.invoiceNumber} for ${money(d.amount)}`,
  invoiceAccepted: (d) => `Invoice ${d.invoiceNumber} accepted by ${d.buyer}`,
  invoiceRejected: (d) => `Invoice ${d.invoiceNumber} rejected by ${d.buyer}: ${d.reason}`,
  invoiceExpired: (d) => `Invoice ${d.invoiceNumber} expired (${d.reason})`,
  bidPlaced: (d) => `New bid of ${money(d.amount)} on ${d.invoiceNumber} (${d.bidCount} pending)`,
  bidWithdrawn: (d) => `A bid of ${money(d.amount)} on ${d.invoiceNumber} was withdrawn (${d.bidCount} pending)`,
  bidAccepted: (d) => `Your bid of ${money(d.amount)} on ${d.invoiceNumber} was accepted`,
  bidRejected: (d) => `Your bid of ${money(d.amount)} on ${d.invoiceNumber} was refunded`,
  bidExpired: (d) => `Your bid of ${money(d.amount)} on ${d.invoiceNumber} expired and was refunded`,
  investmentActivated: (d) => `Invoice ${d.invoiceNumber} is fully funded: your claim of ${money(d.claim)} is active`,
  investmentRefunded: (d) => `Your claim on ${d.invoiceNumber} was refunded (${money(d.amount)})`,
};

export function describe(event, data) {
  const describer = DESCRIPTIONS[event];
  if (describer) {
    try {
      return describer(data ?? {});
    } catch {
      // fall through to the plain form
    }
  }
  return `${event.replace(/([A-Z])/g, ' $1').toLowerCase()}${data?.invoiceNumber ? `: ${data.invoiceNumber}` : ''}`;
}
