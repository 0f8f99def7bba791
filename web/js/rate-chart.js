// A bar chart of scans per minute, drawn on a <canvas> (no library: the hub runs without internet).

/** The smallest "nice" number (1, 2, 2.5, 5 x 10^n) at or above `value`. */
export function niceCeiling(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

function cssVar(element, name, fallback) {
  const value = getComputedStyle(element).getPropertyValue(name).trim();
  return value || fallback;
}

function clock(seconds) {
  const date = new Date(seconds * 1000);
  return `${String(date.getHours()).padStart(2, "0")}:${String(date.getMinutes()).padStart(2, "0")}`;
}

/**
 * Draw `series` (scans per minute, oldest first; the last entry is the current, partial minute)
 * ending at the minute that holds `nowSeconds`. `axes` adds the scale and time labels.
 * The canvas keeps what it drew in data attributes (bars, total, max) for tests and tools.
 */
export function drawRateChart(canvas, series, nowSeconds, { axes = true } = {}) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth));
  const height = Math.max(1, Math.round(canvas.clientHeight));
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);

  const bar = cssVar(canvas, "--chart-bar", "#3b82f6");
  const current = cssVar(canvas, "--chart-bar-now", "#93c5fd");
  const grid = cssVar(canvas, "--chart-grid", "rgba(128,128,128,0.25)");
  const text = cssVar(canvas, "--chart-text", "#888");
  const fontSize = axes ? 12 : 0;

  const max = Math.max(0, ...series);
  const top = niceCeiling(max);
  const left = axes ? 40 : 0;
  const bottom = axes ? fontSize + 8 : 0;
  const plotW = Math.max(1, width - left - (axes ? 8 : 0));
  const plotH = Math.max(1, height - bottom - (axes ? 6 : 2));
  const y0 = (axes ? 6 : 2) + plotH;

  ctx.font = `${fontSize}px system-ui, sans-serif`;
  if (axes) {
    ctx.strokeStyle = grid;
    ctx.fillStyle = text;
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const share of [0, 0.5, 1]) {
      const y = Math.round(y0 - share * plotH) + 0.5;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + plotW, y);
      ctx.stroke();
      ctx.fillText(String(Math.round(top * share * 10) / 10), left - 6, y);
    }
    ctx.textBaseline = "top";
    const currentMinute = Math.floor(nowSeconds / 60) * 60;
    for (const back of [60, 45, 30, 15, 0]) {
      const x = left + ((series.length - back - 0.5) / series.length) * plotW;
      ctx.textAlign = back === 60 ? "left" : back === 0 ? "right" : "center";
      const label = back === 0 ? "now" : clock(currentMinute - back * 60);
      ctx.fillText(label, Math.min(Math.max(x, left), left + plotW), y0 + 4);
    }
  }

  const slot = plotW / series.length;
  const gap = Math.min(3, slot * 0.25);
  let bars = 0;
  series.forEach((value, i) => {
    if (!(value > 0)) return;
    bars += 1;
    const h = Math.max(2, (value / top) * plotH);
    ctx.fillStyle = i === series.length - 1 ? current : bar;
    ctx.fillRect(left + i * slot + gap / 2, y0 - h, Math.max(1, slot - gap), h);
  });

  canvas.dataset.bars = String(bars);
  canvas.dataset.total = String(series.reduce((a, b) => a + b, 0));
  canvas.dataset.max = String(max);
}
