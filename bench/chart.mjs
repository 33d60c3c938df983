/**
 * The bench's SVG chart: throughput of each scenario and engine against its
 * baseline (bars), and live-delivery latency percentiles at 25/50/75 % of
 * the maximum rate, for the relay on each engine and the bare ws forwarder.
 */
const W = 760;
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function chart(r) {
  const b = r.baselines;
  const bars = [['bare node:http POST', b.http.rps, b.http.rps, 'req/s']];
  for (const [engine, e] of Object.entries(r.engines)) {
    // Against the bare server measured alongside it (older results: the run's first).
    bars.push([
      `${engine}: POST 1 KiB`,
      e.post.rps,
      e.post.baseline?.rps ?? b.http.rps,
      'req/s',
      e.post.core1Ceiling,
    ]);
  }
  bars.push(['bare ws forwarder', b.ws.maxPerSecond, b.ws.maxPerSecond, 'msg/s']);
  for (const [engine, e] of Object.entries(r.engines)) {
    bars.push([`${engine}: live delivery`, e.live.maxPerSecond, b.ws.maxPerSecond, 'msg/s']);
  }
  for (const [engine, e] of Object.entries(r.engines)) {
    bars.push([
      `${engine}: handshakes`,
      e.handshakes.perSecond,
      b.crypto.verifyPerSecond,
      '/s (vs raw verify)',
    ]);
  }
  const rowH = 22;
  const left = 190;
  const barW = 380;
  let y = 50;
  const parts = [
    `<text x="10" y="24" font-size="15" font-weight="bold">npchat-relay bench, ${esc(r.date.slice(0, 10))}${r.quick ? ' (quick)' : ''}</text>`,
    `<text x="10" y="40" font-size="11" fill="#555">${esc(`${r.machine.cores} cores, ${r.machine.cpu}, node ${r.machine.node}; bars: share of the same run's baseline; orange: what the generator's core (with Redis) allowed`)}</text>`,
  ];
  for (const [label, value, base, unit, ceiling] of bars) {
    const ratio = base > 0 ? value / base : 0;
    const w = Math.max(1, Math.min(1, ratio) * barW);
    parts.push(
      `<text x="${left - 8}" y="${y + 15}" font-size="12" text-anchor="end">${esc(label)}</text>`,
      `<rect x="${left}" y="${y + 3}" width="${barW}" height="16" fill="#eee"/>`,
      `<rect x="${left}" y="${y + 3}" width="${w.toFixed(1)}" height="16" fill="${label.startsWith('bare') ? '#999' : '#3a7bd5'}"/>`,
      `<text x="${left + barW + 8}" y="${y + 15}" font-size="12">${Math.round(value)} ${esc(unit)} (${ratio.toFixed(2)}x)</text>`,
    );
    if (Number.isFinite(ceiling) && base > 0) {
      const x = left + Math.min(1, ceiling / base) * barW;
      parts.push(
        `<rect x="${(x - 1.5).toFixed(1)}" y="${y + 1}" width="3" height="20" fill="#e8871e"><title>${esc(`core 1 allowed ${Math.round(ceiling)} ${unit} (${(ceiling / base).toFixed(2)}x)`)}</title></rect>`,
      );
    }
    y += rowH;
  }
  y += 20;
  parts.push(
    `<text x="10" y="${y}" font-size="13" font-weight="bold">Live delivery latency (ms, open model: POST due to frame received)</text>`,
  );
  y += 10;
  const series = [
    ['bare ws', b.ws.levels],
    ...Object.entries(r.engines).map(([k, e]) => [k, e.live.levels]),
  ];
  const all = series
    .flatMap(([, l]) => Object.values(l).flatMap((v) => [v.p50, v.p99, v.p999]))
    .filter(Number.isFinite);
  const maxMs = Math.max(1, ...all);
  const colors = { p50: '#7fb3ff', p99: '#3a7bd5', p999: '#1c3f73' };
  for (const [name, levels] of series) {
    for (const [level, v] of Object.entries(levels)) {
      y += 6;
      parts.push(
        `<text x="${left - 8}" y="${y + 12}" font-size="12" text-anchor="end">${esc(`${name} at ${level} (${v.rate}/s)`)}</text>`,
      );
      for (const p of ['p50', 'p99', 'p999']) {
        const ms = Number.isFinite(v[p]) ? v[p] : maxMs;
        parts.push(
          `<rect x="${left}" y="${y + 2}" width="${Math.max(1, (ms / maxMs) * barW).toFixed(1)}" height="5" fill="${colors[p]}"/>`,
        );
        y += 6;
      }
      parts.push(
        `<text x="${left + barW + 8}" y="${y}" font-size="11">${['p50', 'p99', 'p999'].map((p) => `${p} ${Number.isFinite(v[p]) ? v[p].toFixed(2) : 'lost'}`).join(' · ')}</text>`,
      );
      y += 6;
    }
  }
  y += 20;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" font-family="sans-serif"><rect width="100%" height="100%" fill="#fff"/>${parts.join('')}</svg>\n`;
}
