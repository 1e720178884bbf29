// igentai dashboard: the live feed of new items, newest first, searchable.
//
// Items are LLM output and may look like markup (`<img src=x onerror=...>`):
// they are shown as text, always. The list keeps the latest MAX_ITEMS; while
// a search is active it keeps the matching ones first.

import { $, el, fmt, setText } from './format.js';

const MAX_ITEMS = 500;

export class Items {
  constructor() {
    this.list = $('items');
    this.search = $('items-search');
    this.shown = new Set();   // run_id:seq of the items in the list
    this.query = '';
    this.search.addEventListener('input', () => {
      this.query = this.search.value.trim().toLowerCase();
      for (const li of this.list.children) this.filter(li);
      this.count();
    });
  }

  add(event) {
    if (!event || !Array.isArray(event.items)) return;
    const fragment = document.createDocumentFragment();
    // Newest first: the event lists items in discovery order.
    for (let i = event.items.length - 1; i >= 0; i--) {
      const item = event.items[i] || {};
      const key = `${event.run_id}:${item.seq}`;
      if (this.shown.has(key)) continue;  // replayed after a reconnect
      this.shown.add(key);
      const li = el('li', null, 'fresh');
      li.dataset.key = key;
      const text = typeof item.text === 'string' ? item.text : String(item.text);
      li.dataset.search = text.toLowerCase();
      li.append(el('span', text, 'text'));
      const meta = [item.provider, item.partition].filter(Boolean).join(' · ');
      const info = el('span', `${meta} #${fmt.int(item.seq)}`, 'meta');
      info.title = `worker ${item.worker_id || '?'}`;
      li.append(info);
      this.filter(li);
      fragment.append(li);
    }
    this.list.prepend(fragment);
    this.trim();
    this.count();
  }

  // Drops the oldest items past MAX_ITEMS; during a search, the ones that
  // don't match go first, so matches stay however fast items arrive.
  trim() {
    let excess = this.list.childElementCount - MAX_ITEMS;
    if (excess <= 0) return;
    const drop = (li) => {
      this.shown.delete(li.dataset.key);
      li.remove();
      excess -= 1;
    };
    if (this.query) {
      for (let li = this.list.lastElementChild; li && excess > 0;) {
        const previous = li.previousElementSibling;
        if (li.hidden) drop(li);
        li = previous;
      }
    }
    while (excess > 0) drop(this.list.lastElementChild);
  }

  filter(li) {
    li.hidden = this.query !== '' && !li.dataset.search.includes(this.query);
  }

  count() {
    const total = this.list.childElementCount;
    let text = total ? `latest ${fmt.int(total)}` : '';
    if (this.query) {
      const matching = [...this.list.children].filter((li) => !li.hidden).length;
      text = `${fmt.int(matching)} of the latest ${fmt.int(total)} match`;
    }
    setText($('items-count'), text);
  }
}
