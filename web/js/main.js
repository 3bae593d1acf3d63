// The app shell: who is signed in, the live connection, the header (navigation, connection indicator,
// wallet balance, notifications, sign out) and the hash router that mounts one view at a time.
// Views get a scope: `scope.on('event' | 'resync', fn)` subscribes until the view is left, and
// `scope.onClose(fn)` runs fn when it is left.

import { call, get, onUnauthorized, session } from './api.js';
import { h, replaceChildren } from './dom.js';
import { Live } from './live.js';
import { formatPaise } from './money.js';
import * as auth from './views/auth.js';
import * as buyer from './views/buyer.js';
import * as dashboard from './views/dashboard.js';
import * as limits from './views/limits.js';
import * as market from './views/market.js';
import * as notifications from './views/notifications.js';
import * as portfolio from './views/portfolio.js';
import * as seller from './views/seller.js';
import * as wallet from './views/wallet.js';

// role -> [route, link text, view]; the first is the role's main page
const ROUTES = {
  seller: [['invoices', 'My invoices', seller], ['dashboard', 'Dashboard', dashboard], ['wallet', 'Wallet', wallet]],
  investor: [
    ['market', 'Marketplace', market], ['portfolio', 'Portfolio', portfolio], ['wallet', 'Wallet', wallet],
    ['limits', 'Limits', limits], ['dashboard', 'Dashboard', dashboard],
  ],
  buyer: [['owed', 'Invoices', buyer], ['dashboard', 'Dashboard', dashboard], ['wallet', 'Wallet', wallet]],
};

const CONNECTION_TEXT = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', offline: 'Offline' };

const top = document.getElementById('top');
const main = document.getElementById('main');
let app = null; // {user, live, bus, balance, balanceElement, unmount}

function start() {
  onUnauthorized((message) => signOutLocally(`Your session has ended (${message}). Sign in again.`));
  window.addEventListener('hashchange', route);
  const saved = session.read();
  if (saved?.token && saved?.user) signedIn(saved);
  else showSignIn();
}

function showSignIn(message = '') {
  replaceChildren(top, h('div', { class: 'brand' }, 'Invoice Finance'));
  auth.mount(main, { message, onSignedIn: (result) => { session.write(result); signedIn(result); } });
  document.title = 'Sign in · Invoice Finance';
}

function signedIn({ token, user }) {
  const bus = new EventTarget();
  const live = new Live(token);
  app = { user, live, bus, balance: null, unmount: null };
  live.addEventListener('event', (event) => {
    const frame = event.detail;
    updateBalanceFrom(frame);
    bus.dispatchEvent(new CustomEvent('event', { detail: frame }));
  });
  live.addEventListener('hello', (event) => {
    // a first connection, or a resume that could not replay what was missed: the views read their state
    // again now, after the hello, so no event can fall between that read and the live events
    if (!event.detail.resumed || !event.detail.recovered) {
      bus.dispatchEvent(new CustomEvent('resync'));
      refreshBalance();
    }
  });
  live.addEventListener('state', (event) => {
    showConnection(event.detail);
    // a socket refused before its handshake looks like any drop: ask the API whether the token still works
    if (event.detail === 'reconnecting') get('/api/users/profile').catch(() => {});
  });
  live.addEventListener('unauthorized', () => signOutLocally('Your session has ended. Sign in again.'));
  renderHeader();
  live.start();
  refreshBalance();
  route();
}

function renderHeader() {
  const { user } = app;
  const links = ROUTES[user.role].map(([name, text]) => h('a', { href: `#/${name}`, dataset: { route: name } }, text));
  app.connection = h('span', { class: 'connection connecting', role: 'status', 'aria-live': 'polite' }, CONNECTION_TEXT.connecting);
  app.balanceElement = h('a', { class: 'balance', href: '#/wallet', title: 'Wallet balance' }, '…');
  const signOutButton = h('button', { type: 'button', class: 'quiet', onclick: () => signOut(signOutButton) }, 'Sign out');
  const bell = notifications.mount(app);
  replaceChildren(top,
    h('div', { class: 'brand' }, 'Invoice Finance'),
    h('nav', { 'aria-label': 'Main' }, links),
    h('div', { class: 'session' },
      app.connection, app.balanceElement, bell,
      h('span', { class: 'who' }, h('span', { class: 'who-name' }, user.company || user.name), h('span', { class: 'role' }, user.role)),
      signOutButton));
}

function showConnection(state) {
  if (!app?.connection) return;
  app.connection.className = `connection ${state}`;
  app.connection.textContent = CONNECTION_TEXT[state];
}

function route() {
  // a hash that is no route (the skip link's #main) moves focus, not the view
  if (!app || (location.hash && !location.hash.startsWith('#/') && app.unmount)) return;
  const routes = ROUTES[app.user.role];
  const wanted = location.hash.replace(/^#\/?/, '');
  const found = routes.find(([name]) => name === wanted) ?? routes[0];
  if (wanted !== found[0]) {
    history.replaceState(null, '', `#/${found[0]}`);
  }
  const [name, text, view] = found;
  for (const link of top.querySelectorAll('nav a')) {
    if (link.dataset.route === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (app.unmount) app.unmount();
  const scope = newScope(app.bus);
  replaceChildren(main);
  view.mount(main, { user: app.user, scope, setBalance });
  app.unmount = () => scope.close();
  document.title = `${text} · Invoice Finance`;
}

function newScope(bus) {
  const subscriptions = [];
  const cleanups = [];
  return {
    on(type, listener) {
      const wrapped = (event) => listener(event.detail);
      bus.addEventListener(type, wrapped);
      subscriptions.push([type, wrapped]);
    },
    onClose(cleanup) {
      cleanups.push(cleanup);
    },
    close() {
      this.closed = true;
      for (const [type, wrapped] of subscriptions) bus.removeEventListener(type, wrapped);
      subscriptions.length = 0;
      for (const cleanup of cleanups.splice(0)) cleanup();
    },
    closed: false,
  };
}

function setBalance(balance) {
  if (!app || balance === undefined || balance === null) return;
  app.balance = balance;
  app.balanceElement.textContent = formatPaise(balance);
}

async function refreshBalance() {
  try {
    setBalance((await get('/api/wallet')).balance);
  } catch {
    // shown again on the next event or reload
  }
}

// Every event that says what the user's balance now is keeps the header's figure current.
function updateBalanceFrom(frame) {
  if (frame.stream !== 'user') return;
  if (frame.event === 'walletUpdated') setBalance(frame.data.balance);
  else if (typeof frame.data?.newBalance === 'number') setBalance(frame.data.newBalance);
}

async function signOut(button) {
  button.disabled = true;
  try {
    await call('POST', '/api/auth/logout');
  } catch {
    // the token is dropped here either way
  }
  signOutLocally('You have signed out.');
}

function signOutLocally(message) {
  if (app) {
    app.live.stop();
    if (app.unmount) app.unmount();
    notifications.unmount();
  }
  app = null;
  session.clear();
  history.replaceState(null, '', '#/');
  showSignIn(message);
}

start();
