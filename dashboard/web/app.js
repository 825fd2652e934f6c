// Loupe dashboard client: one WebSocket, a snapshot first, then every change. No framework, so it
// runs on line tablets and old PCs.
const state = { statuses: new Map(), reviews: new Map(), results: [] };
const $ = (id) => document.getElementById(id);
const keyOf = (r) => `${r.line}/${r.station}/${r.partId}`;

function connect() {
  const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
  socket.onopen = () => { $('link').textContent = 'live'; $('link').className = 'online'; };
  socket.onclose = () => { $('link').textContent = 'reconnecting…'; $('link').className = 'off'; setTimeout(connect, 1000); };
  socket.onmessage = (message) => apply(JSON.parse(message.data));
}

function apply(event) {
  if (event.type === 'snapshot') {
    state.statuses = new Map(event.statuses.map((s) => [`${s.line}/${s.station}`, s]));
    state.reviews = new Map(event.reviews.map((r) => [keyOf(r), r]));
    state.results = event.results;
  } else if (event.type === 'status') state.statuses.set(`${event.status.line}/${event.status.station}`, event.status);
  else if (event.type === 'review') state.reviews.set(keyOf(event.review), event.review);
  else if (event.type === 'review-closed') state.reviews.delete(keyOf(event));
  else if (event.type === 'result') { state.results.unshift(event.result); state.results.length = Math.min(state.results.length, 50); }
  render();
}

function render() {
  $('stations').replaceChildren(...[...state.statuses.values()].map((s) => el('li', { className: s.state }, `${s.station}: ${s.state}`)));
  const reviews = [...state.reviews.values()].sort((a, b) => a.deadline.localeCompare(b.deadline));
  $('queue-count').textContent = String(reviews.length);
  $('queue').replaceChildren(...reviews.map((r) => el('li', { dataset: { part: r.partId } },
    el('strong', {}, r.partId), ` ${r.station} · score ${r.score === null ? '—' : r.score.toFixed(3)} · ${r.reasons.join(', ')} `,
    el('div', {}, button('Accept', 'accept', r), button('Reject', 'reject', r)))));
  $('results').replaceChildren(...state.results.map((r) => el('tr', {},
    el('td', {}, r.partId), el('td', {}, r.station), el('td', { className: `v-${r.verdict}` }, r.verdict),
    el('td', {}, r.score === null ? '—' : r.score.toFixed(3)), el('td', {}, r.reasons.join(', ')), el('td', {}, String(r.timings.totalMs)))));
}

function button(label, decision, review) {
  const b = el('button', { className: decision }, label);
  b.onclick = () => fetch(`/api/reviews/${review.line}/${review.station}/${review.partId}/decision`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ decision, user: 'technician' }),
  });
  return b;
}

function el(tag, props, ...children) {
  const node = Object.assign(document.createElement(tag), props.className ? { className: props.className } : {});
  if (props.dataset) Object.assign(node.dataset, props.dataset);
  node.append(...children);
  return node;
}

connect();
