// Dashboard: the role's figures (counts and paise) and its daily series as SVG bar charts.

import { get } from '../api.js';
import { barChart } from '../charts.js';
import { coalesce } from '../coalesce.js';
import { h, replaceChildren } from '../dom.js';
import { formatCount, formatPaise } from '../money.js';

const LABELS = {
  listedCount: 'Invoices listed', listedAmount: 'Face value listed', fundedCount: 'Invoices funded',
  raisedAmount: 'Raised (net of fees)', repaidCount: 'Invoices repaid', cancelledCount: 'Cancelled or rejected',
  cancelledAmount: 'Face value cancelled', investmentCount: 'Investments', investedAmount: 'Invested',
  expectedReturn: 'Expected return', settledCount: 'Settled', settledAmount: 'Settled (cost)',
  realizedReturn: 'Received back', realizedProfit: 'Realised profit', defaultedCount: 'Defaulted',
  defaultedAmount: 'Defaulted (cost)', defaultedReturn: 'Defaulted (face)', recoveredCount: 'Recovered',
  recoveredAmount: 'Recovered', expectedProfit: 'Expected profit', activeCount: 'Active investments',
  activeAmount: 'Active (cost)', reservedCount: 'Reserved claims', reservedAmount: 'Reserved (cost)', invoiceCount: 'Invoices owed', invoiceAmount: 'Face value owed',
  repaidAmount: 'Repaid', outstandingAmount: 'Owed in all (funded or listed)',
};
const METRIC_TITLES = { listed: 'Listed per day', raised: 'Raised per day', invested: 'Invested per day', returned: 'Returned per day', repaid: 'Repaid per day' };

export function mount(root, { scope }) {
  const figures = h('div', { class: 'stats' });
  const charts = h('div', { class: 'charts' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  replaceChildren(root, h('h1', {}, 'Dashboard'), error, figures, h('section', { class: 'card' }, h('h2', {}, 'Last 30 days'), charts));

  const refresh = coalesce(async () => {
    try {
      const dashboard = await get('/api/users/dashboard');
      if (scope.closed) return;
      replaceChildren(figures, Object.entries(dashboard.stats).map(([name, value]) => figure(name, value)));
      const metrics = Object.keys(dashboard.series[0] ?? {}).filter((name) => name !== 'date');
      replaceChildren(charts, metrics.map((metric) => barChart(dashboard.series, metric, METRIC_TITLES[metric] ?? metric)));
      error.textContent = '';
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  scope.on('event', (frame) => { if (frame.stream === 'user') refresh(); });
  scope.on('resync', refresh);
  refresh();
}

function figure(name, value) {
  const isCount = name.endsWith('Count');
  const label = LABELS[name] ?? name.replace(/([A-Z])/g, ' $1').replace(/^./, (c) => c.toUpperCase());
  return h('div', { class: 'stat' }, h('p', { class: 'stat-label' }, label),
    h('p', { class: 'stat-value' }, isCount ? formatCount(value) : formatPaise(value)));
}
