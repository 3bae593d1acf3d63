// One socket.io-client socket, driven by the pytest tests (tests/socketio): its options come as JSON in
// argv[2]; everything it sees is printed as one JSON line; commands arrive as JSON lines on stdin:
//   {"cmd":"emit","event":"authenticate","args":["<token>"],"ack":true}
//   {"cmd":"drop"}        the transport drops without a 41 (socket.io.engine.close()): recoverable
//   {"cmd":"disconnect"}  a clean leave (41)
//   {"cmd":"connect"}     connect again (with the pid and offset it has, as socket.io-client does)
//   {"cmd":"exit"}
"use strict";
const { io } = require("socket.io-client");
const readline = require("readline");

const options = JSON.parse(process.argv[2]);
const out = (line) => process.stdout.write(JSON.stringify(line) + "\n");
const socket = io(options.url, {
  transports: options.transports || ["websocket", "polling"],
  upgrade: options.upgrade !== false,
  auth: options.auth,
  extraHeaders: options.headers || {},
  reconnection: options.reconnection !== false,
  reconnectionDelay: options.reconnectionDelay || 100,
  reconnectionDelayMax: options.reconnectionDelay || 200,
  randomizationFactor: 0,
  forceNew: true,
});

socket.on("connect", () => out({ type: "connect", id: socket.id, recovered: socket.recovered,
  transport: socket.io.engine.transport.name }));
socket.on("connect_error", (error) => out({ type: "connect_error", message: error.message,
  data: error.data === undefined ? null : error.data, description: String((error.description && error.description.message) || error.description || "") }));
socket.on("disconnect", (reason) => out({ type: "disconnect", reason }));
socket.onAny((event, ...args) => out({ type: "event", event, args }));
socket.io.on("open", () => {
  socket.io.engine.on("upgrade", (transport) => out({ type: "upgrade", transport: transport.name }));
});

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const command = JSON.parse(line);
  if (command.cmd === "emit") {
    if (command.ack) {
      socket.emit(command.event, ...command.args, (...answer) => out({ type: "ack", event: command.event, args: answer }));
    } else {
      socket.emit(command.event, ...command.args);
    }
  } else if (command.cmd === "drop") {
    socket.io.engine.close();
  } else if (command.cmd === "disconnect") {
    socket.disconnect();
  } else if (command.cmd === "connect") {
    socket.connect();
  } else if (command.cmd === "namespace") {
    const other = io(options.url.replace(/\/$/, "") + command.namespace, { transports: ["websocket"], forceNew: true,
      reconnection: false, auth: options.auth });
    other.on("connect", () => out({ type: "namespace_connect", namespace: command.namespace }));
    other.on("connect_error", (error) => out({ type: "namespace_error", namespace: command.namespace,
      message: error.message }));
  } else if (command.cmd === "exit") {
    socket.close();
    process.exit(0);
  }
});
process.stdin.on("end", () => process.exit(0));
