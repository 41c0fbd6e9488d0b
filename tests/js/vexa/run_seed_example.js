// Runs seed 001's JavaScript example (seed_001_example.js, copied from the seed unchanged)
// against a Switchboard server. What a browser page would provide, this provides: WebSocket
// (the ws package's, which speaks the browser's onopen/onmessage API) and the page's own
// updateStatusIndicator. The example's placeholder URL becomes SWITCHBOARD_WS_URL with
// SWITCHBOARD_API_KEY; its meeting, google_meet abc-defg-hij, is the one the test sends a bot to.
'use strict';
const fs = require('fs');
const path = require('path');
const vm = require('vm');
const WebSocket = require('ws');

const url = process.env.SWITCHBOARD_WS_URL;
const key = process.env.SWITCHBOARD_API_KEY;
if (!url || !key) {
  console.error('set SWITCHBOARD_WS_URL and SWITCHBOARD_API_KEY');
  process.exit(2);
}

const placeholder = 'wss://your-api-url/ws?api_key=your-api-key';
const example = fs.readFileSync(path.join(__dirname, 'seed_001_example.js'), 'utf8');
if (!example.includes(placeholder)) {
  console.error('the example no longer has its placeholder URL');
  process.exit(2);
}
const source = example.replace(placeholder, `${url}?api_key=${encodeURIComponent(key)}`);

// Says on stderr how the connection ended, for the test's failure messages.
class ReportingWebSocket extends WebSocket {
  constructor(...args) {
    super(...args);
    this.on('close', (code, reason) => console.error(`closed ${code} ${reason}`));
    this.on('error', (err) => console.error(`error ${err.message}`));
  }
}

vm.runInNewContext(source, {
  WebSocket: ReportingWebSocket,
  JSON,
  console,
  updateStatusIndicator: (nativeId, status) => console.log(`indicator ${nativeId} ${status}`),
});

// Only while the socket is open does this keep the process: a stuck example fails, not hangs.
setTimeout(() => {
  console.error('the example was still waiting after 90 s');
  process.exit(3);
}, 90_000).unref();
