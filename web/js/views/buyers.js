// A buyer picker: type the start of a name, choose from the directory (GET /api/users/buyers).
// `optional` (a filter): the first choice is "Any buyer" and nothing is ever chosen for the person.

import { get } from '../api.js';
import { h, uid } from '../dom.js';

export function buyerPicker(label, { optional = false } = {}) {
  const id = uid('buyer');
  const searchId = `${id}-search`;
  const errorId = `${id}-error`;
  const search = h('input', { id: searchId, type: 'search', autocomplete: 'off', placeholder: 'Type a name', 'aria-controls': id });
  const input = h('select', { id, required: !optional, 'aria-describedby': errorId }, h('option', { value: '' }, 'Loading buyers…'));
  const error = h('p', { class: 'field-error', id: errorId, role: 'alert' });
  const wrapper = h('div', { class: 'field buyer-picker' },
    h('label', { for: searchId }, `Find ${label.toLowerCase()}`), search,
    h('label', { for: id }, label), input, error);
  let timer = null;
  let asked = 0;

  async function load() {
    const mine = ++asked;
    try {
      const { buyers } = await get('/api/users/buyers', { q: search.value.trim(), limit: 100 });
      if (mine !== asked) return;
      const chosen = input.value;
      const first = optional ? `Any ${label.toLowerCase()}` : buyers.length ? `Choose a ${label.toLowerCase()}` : 'No buyer matches';
      input.replaceChildren(h('option', { value: '' }, first),
        ...buyers.map((buyer) => h('option', { value: buyer.id, selected: buyer.id === chosen }, buyer.name)));
      if (buyers.length === 1 && !optional) input.value = buyers[0].id;
    } catch (failure) {
      error.textContent = failure.message;
    }
  }
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(load, 200);
  });
  load();
  return { wrapper, input, error, reload: load };
}
