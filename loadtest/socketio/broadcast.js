// The Socket.IO baseline for loadtest.bench: the seed's stack (Socket.IO 4.8 on Node), broadcasting the
// same envelope as loadtest/raw_broadcast.py and loadtest/baseline_broadcast.py.
//
//   node loadtest/socketio/broadcast.js --port 8300
//
// POST /broadcast {"seq": n} -> io.emit("broadcast", {type, stream, id: "<ms>-0", event, data: {seq}})
// GET /health -> {"status":"ok","sockets":n}. Clients connect to /socket.io/?EIO=4&transport=websocket.
// Loopback, benchmark use only.
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : fallback;
};
const host = option("--host", "127.0.0.1");
const port = Number(option("--port", "8300"));

const server = http.createServer((request, response) => {
  if (request.method === "POST" && request.url === "/broadcast") {
    let body = "";
    request.on("data", (chunk) => { body += chunk; });
    request.on("end", () => {
      const seq = JSON.parse(body).seq;
      io.emit("broadcast", {
        type: "event", stream: "market", id: `${Date.now()}-0`, event: "broadcast", data: { seq },
      });
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ sockets: io.engine.clientsCount }));
    });
    return;
  }
  response.writeHead(200, { "content-type": "application/json" });
  response.end(JSON.stringify({ status: "ok", sockets: io.engine.clientsCount }));
});

// perMessageDeflate is off by default in Socket.IO 4, as in our app (declined)
const io = new Server(server, { transports: ["websocket"], serveClient: false });
server.listen({ host, port, backlog: 4096 }, () => console.log(`socket.io ${require("socket.io/package.json").version} on ${host}:${port}`));
