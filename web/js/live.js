// The live connection: /ws with the session's token, resumed after any drop from the last event of each
// stream (since / marketSince), so nothing is missed and nothing is applied twice. A hello with
// recovered=false (the ids were trimmed) tells the views to reload their state over REST.
//
// Events it dispatches: 'state' (detail: 'connecting' | 'live' | 'reconnecting' | 'offline'),
// 'hello' (detail: {recovered, resumed}), 'event' (detail: the event frame), 'unauthorized'.

const PING_EVERY_MS = 25_000;
const PONG_WAIT_MS = 10_000;
const RETRY_FIRST_MS = 300;
const RETRY_MAX_MS = 8_000;

export class Live extends EventTarget {
  constructor(token) {
    super();
    this.token = token;
    this.since = null; // the last id seen on the user stream
    this.marketSince = null;
    this.socket = null;
    this.state = 'connecting';
    this.retryMs = RETRY_FIRST_MS;
    this.timer = null;
    this.pinger = null;
    this.stopped = false;
    this.onOnline = () => this.reconnectNow();
    this.onOffline = () => this.setState('offline');
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
  }

  start() {
    this.open();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    clearTimeout(this.pongTimer);
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    if (this.socket) this.socket.close(1000, 'signed out');
    this.socket = null;
  }

  url() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const params = new URLSearchParams({ token: this.token });
    if (this.since) params.set('since', this.since);
    if (this.marketSince) params.set('marketSince', this.marketSince);
    return `${scheme}//${location.host}/ws?${params}`;
  }

  open() {
    if (this.stopped) return;
    const resumed = Boolean(this.since || this.marketSince);
    let socket;
    try {
      socket = new WebSocket(this.url());
    } catch {
      this.retryLater();
      return;
    }
    this.socket = socket;
    socket.addEventListener('message', (message) => this.receive(message, resumed));
    socket.addEventListener('close', (close) => this.closed(socket, close));
    // errors are followed by a close; the close decides what happens next
  }

  receive(message, resumed) {
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch {
      return;
    }
    // any frame shows the connection alive: under a burst of events the pong waits behind them
    clearTimeout(this.pongTimer);
    if (frame.type === 'hello') {
      // where each stream starts on this socket: a later reconnect resumes from here even if no event
      // of that stream arrives meanwhile (after recovered=false too: the views reload from REST now)
      this.since = frame.since ?? this.since;
      this.marketSince = frame.marketSince ?? this.marketSince;
      this.retryMs = RETRY_FIRST_MS;
      this.setState('live');
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.ping(), PING_EVERY_MS);
      this.dispatchEvent(new CustomEvent('hello', { detail: { recovered: frame.recovered, resumed } }));
    } else if (frame.type === 'event') {
      if (frame.stream === 'user') this.since = frame.id;
      else if (frame.stream === 'market') this.marketSince = frame.id;
      this.dispatchEvent(new CustomEvent('event', { detail: frame }));
    }
  }

  // A socket that answers no ping within PONG_WAIT_MS is dead (a laptop that slept, a network that
  // changed) even if the browser has not noticed: it is dropped, and the reconnect resumes it.
  ping() {
    const socket = this.socket;
    this.send({ type: 'ping' });
    clearTimeout(this.pongTimer);
    this.pongTimer = setTimeout(() => {
      if (socket !== this.socket) return;
      socket.close(4000, 'no pong');
      this.closed(socket, { code: 4000 }); // a dead connection's own close event may come much later
    }, PONG_WAIT_MS);
  }

  send(frame) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(frame));
  }

  closed(socket, close) {
    if (socket !== this.socket) return;
    clearInterval(this.pinger);
    clearTimeout(this.pongTimer);
    this.socket = null;
    if (this.stopped) return;
    if (close.code === 4401) {
      this.stopped = true;
      this.dispatchEvent(new CustomEvent('unauthorized'));
      return;
    }
    this.retryLater();
  }

  retryLater() {
    this.setState(navigator.onLine === false ? 'offline' : 'reconnecting');
    clearTimeout(this.timer);
    const wait = this.retryMs * (0.75 + Math.random() * 0.5);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    this.timer = setTimeout(() => this.open(), wait);
  }

  reconnectNow() {
    if (this.stopped || this.socket) return;
    clearTimeout(this.timer);
    this.retryMs = RETRY_FIRST_MS;
    this.open();
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: state }));
  }
}
