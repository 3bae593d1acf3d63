// Small SVG charts drawn from the dashboard's daily series: bars of paise per day, with the axis in
// rupees. Built with createElementNS and text nodes only, sized by the viewBox so it scales to any width.

import { formatPaise } from './money.js';

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attributes = {}, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.append(document.createTextNode(text));
  return element;
}

// series: [{date, <metric>: paise, ...}]; one bar per day of `metric`.
export function barChart(series, metric, title) {
  const width = 600;
  const height = 180;
  const left = 8;
  const bottom = 22;
  const top = 26;
  const values = series.map((day) => Number(day[metric] ?? 0));
  const max = Math.max(...values, 0);
  const total = values.reduce((sum, value) => sum + value, 0);
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', class: 'chart', 'aria-label': `${title}: ${formatPaise(total)} over ${series.length} days` });
  chart.append(svg('title', {}, title));
  chart.append(svg('text', { x: left, y: 16, class: 'chart-title' }, `${title} · ${formatPaise(total)} in ${series.length} days`));
  const plotHeight = height - top - bottom;
  const slot = (width - left * 2) / Math.max(series.length, 1);
  chart.append(svg('line', { x1: left, x2: width - left, y1: height - bottom, y2: height - bottom, class: 'axis' }));
  series.forEach((day, index) => {
    const value = values[index];
    // heights are pixels of a picture, not money: a ratio in floating point is fine here
    const barHeight = max === 0 ? 0 : Math.max(value > 0 ? 2 : 0, (value / max) * plotHeight);
    const bar = svg('rect', {
      x: left + index * slot + slot * 0.15, y: height - bottom - barHeight, width: slot * 0.7, height: barHeight, class: 'bar',
    });
    bar.append(svg('title', {}, `${day.date}: ${formatPaise(value)}`));
    chart.append(bar);
  });
  if (series.length) {
    chart.append(svg('text', { x: left, y: height - 6, class: 'chart-label' }, series[0].date));
    chart.append(svg('text', { x: width - left, y: height - 6, class: 'chart-label', 'text-anchor': 'end' }, series[series.length - 1].date));
  }
  if (max > 0) chart.append(svg('text', { x: width - left, y: top - 2, class: 'chart-label', 'text-anchor': 'end' }, `max ${formatPaise(max)}`));
  return chart;
}
