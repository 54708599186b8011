// A header-authenticated client, the way EventSource polyfills work: Debian's node-eventsource (the `eventsource`
// package) with an Authorization header. Prints one JSON line per event, {"open": n} on every (re)connection and
// {"error": ...} on errors, until it has COUNT events; then exits 0.
//   NODE_PATH=/usr/share/nodejs node node_eventsource.js URL TOKEN COUNT [LAST_EVENT_ID]
const EventSource = require('eventsource');
const [url, token, count, lastEventId] = process.argv.slice(2);
const options = { headers: { Authorization: 'Bearer ' + token } };
if (lastEventId) options.headers['Last-Event-ID'] = lastEventId;
const source = new EventSource(url, options);
let received = 0, opens = 0;
const print = object => process.stdout.write(JSON.stringify(object) + '\n');
source.onopen = () => print({ open: ++opens });
source.onerror = error => print({ error: error && (error.status || error.message || 'error'), readyState: source.readyState });
source.onmessage = event => {
  print({ id: event.lastEventId, data: event.data });
  if (++received >= Number(count)) { source.close(); process.exit(0); }
};
// The reconnect timer alone does not keep node alive between connections.
setInterval(() => {}, 1000);
