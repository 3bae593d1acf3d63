// The one API client: bearer token, JSON, the API's error envelope, and Idempotency-Key for the money
// routes. A session (token and user) is kept in localStorage so a reload stays signed in.

const SESSION_KEY = 'invoice-finance.session';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const session = {
  read() {
    try {
      return JSON.parse(localStorage.getItem(SESSION_KEY) ?? 'null');
    } catch {
      return null;
    }
  },
  write(value) {
    localStorage.setItem(SESSION_KEY, JSON.stringify(value));
  },
  clear() {
    localStorage.removeItem(SESSION_KEY);
  },
};

// Listeners for a 401 on any call: the token expired or was revoked; the app returns to sign-in.
const unauthorizedListeners = new Set();
export function onUnauthorized(listener) {
  unauthorizedListeners.add(listener);
}

export async function call(method, path, { body, idempotencyKey, token = session.read()?.token } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'network_error', 'The server cannot be reached. Check your connection and try again.');
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const code = data?.error?.code ?? 'http_error';
    const message = data?.error?.message ?? `The server answered ${response.status}.`;
    if (response.status === 401 && token && path !== '/api/auth/login') {
      for (const listener of unauthorizedListeners) listener(message);
    }
    throw new ApiError(response.status, code, message);
  }
  return data;
}

export const get = (path, params) => call('GET', params ? `${path}?${query(params)}` : path);
export const post = (path, body, idempotencyKey) => call('POST', path, { body, idempotencyKey });

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(name, String(value));
  }
  return search.toString();
}

function newKey() {
  return crypto.randomUUID();
}

// One money request behind a button: the button is disabled while it is in flight, the API's error
// goes in `errorElement` beside the control, and a retry of the same request (the same body after a
// failure: a timeout, a 503, a dropped connection) reuses its Idempotency-Key, so it can never move
// money twice. A success starts a new key: the next click is a new request. Resolves to the answer, or
// to undefined once the error is shown.
export class MoneyAction {
  constructor(button, errorElement) {
    this.button = button;
    this.errorElement = errorElement;
    this.pending = null; // {signature, key} of a request that did not succeed
    this.lastCode = null; // the API's code of the last refusal
  }

  async run(method, path, body) {
    const signature = `${method} ${path} ${JSON.stringify(body ?? null)}`;
    if (!this.pending || this.pending.signature !== signature) this.pending = { signature, key: newKey() };
    this.inFlight = true;
    this.button.disabled = true;
    this.button.setAttribute('aria-busy', 'true');
    this.showError('');
    try {
      const result = await call(method, path, { body, idempotencyKey: this.pending.key });
      this.pending = null;
      return result;
    } catch (error) {
      this.lastCode = error.code;
      this.showError(error.message);
      return undefined;
    } finally {
      this.inFlight = false;
      this.button.disabled = false;
      this.button.removeAttribute('aria-busy');
    }
  }

  showError(message) {
    if (this.errorElement) this.errorElement.textContent = message; // an empty one takes no space (CSS :empty)
  }

  // the controls of a row rebuilt by a live update: the pending key stays with the action, so a retry
  // from the new row is still the same request
  bind(button, errorElement) {
    if (this.errorElement && errorElement) errorElement.textContent = this.errorElement.textContent;
    if (this.inFlight) {
      button.disabled = true;
      button.setAttribute('aria-busy', 'true');
    }
    this.button = button;
    this.errorElement = errorElement;
    return this;
  }
}

// MoneyActions by name, for rows that live updates rebuild: `moneyAction('inv_1:repay', button, error)`
// gives the same action (its pending Idempotency-Key included) bound to the new row's controls.
export function moneyActions() {
  const actions = new Map();
  return (name, button, errorElement) => {
    const found = actions.get(name);
    if (found) return found.bind(button, errorElement);
    const made = new MoneyAction(button, errorElement);
    actions.set(name, made);
    return made;
  };
}
