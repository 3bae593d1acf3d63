// Money in the browser: paise are integers end to end, as in the API. Typed amounts are parsed from
// their text into integer paise (BigInt arithmetic, never a float), and paise are shown as rupees with
// Indian digit grouping by Intl on the integer rupees, the paise put beside them as digits.

export const AMOUNT_MAX = 1_000_000_000_000_000; // 10^15 paise, the API's ceiling (exact in a double)

const rupeeFormat = new Intl.NumberFormat('en-IN', {
  style: 'currency', currency: 'INR', minimumFractionDigits: 2, maximumFractionDigits: 2,
});
const groupFormat = new Intl.NumberFormat('en-IN', { maximumFractionDigits: 0 });

// "₹1,00,000.50" from 10000050. Integer division splits rupees from paise; Intl groups the rupees.
export function formatPaise(paise) {
  if (paise === null || paise === undefined) return '—';
  let value = BigInt(paise);
  const negative = value < 0n;
  if (negative) value = -value;
  const rupees = value / 100n;
  const cents = String(value % 100n).padStart(2, '0');
  const text = rupeeFormat.formatToParts(rupees)
    .map((part) => (part.type === 'fraction' ? cents : part.value))
    .join('');
  return negative ? `-${text}` : text;
}

// "1,00,000" for counts and plain integers.
export function formatCount(value) {
  return groupFormat.format(BigInt(value));
}

// Indian grouping (12,34,567), international grouping (1,234,567) or none; at most two decimals.
const AMOUNT_TEXT = /^(?:₹|rs\.?|inr)?\s*([0-9]+|[0-9]{1,2}(?:,[0-9]{2})*,[0-9]{3}|[0-9]{1,3}(?:,[0-9]{3})+)(?:\.([0-9]{0,2}))?$/i;

export class AmountError extends Error {}

// "1,00,000.50" -> 10000050. Throws AmountError with a message fit to show beside the field.
export function parseRupees(text) {
  const cleaned = String(text ?? '').trim();
  if (cleaned === '') throw new AmountError('Enter an amount in rupees, e.g. 1,00,000.50');
  const match = AMOUNT_TEXT.exec(cleaned);
  if (!match) throw new AmountError('Not an amount: use digits, commas and up to two decimals, e.g. 1,00,000.50');
  const rupees = BigInt(match[1].replaceAll(',', ''));
  const paise = BigInt((match[2] ?? '').padEnd(2, '0'));
  const total = rupees * 100n + paise;
  if (total <= 0n) throw new AmountError('The amount must be more than ₹0.00');
  if (total > BigInt(AMOUNT_MAX)) throw new AmountError(`The amount must be at most ${formatPaise(AMOUNT_MAX)}`);
  return Number(total); // exact: below 2^53
}

// Paise as the text a person would type back: 10000050 -> "100000.50".
export function paiseToInput(paise) {
  const value = BigInt(paise);
  return `${value / 100n}.${String(value % 100n).padStart(2, '0')}`;
}

// What a claim of a fractional invoice costs: its cumulative-rounded share of the ask, exactly as the
// server computes it (docs/api.md): floor((sold + claim) * ask / face) - floor(sold * ask / face).
export function claimPrice(sold, claim, ask, face) {
  const [s, c, a, f] = [sold, claim, ask, face].map(BigInt);
  return Number(((s + c) * a) / f - (s * a) / f);
}

// Simple discount and annualised yield, in basis points, exact in integers (for display only).
export function discountBps(face, price) {
  return Number(((BigInt(face) - BigInt(price)) * 10000n) / BigInt(face));
}

export function yieldBps(face, price, days) {
  if (days <= 0 || price <= 0) return null;
  return Number(((BigInt(face) - BigInt(price)) * 10000n * 365n) / (BigInt(price) * BigInt(days)));
}

export function formatBps(bps) {
  if (bps === null || bps === undefined) return '—';
  const sign = bps < 0 ? '-' : '';
  const abs = Math.abs(bps);
  return `${sign}${Math.trunc(abs / 100)}.${String(abs % 100).padStart(2, '0')}%`;
}
