// Feedback an operator notices in a noisy, bright warehouse without looking closely: a sound
// (generated with WebAudio, no audio files), a full-screen colour flash and a vibration where the
// device has one. Each kind is distinct: a rising double beep for success, a low triple buzz for
// an error, a single soft tick for "kept on this device", a fanfare for a full parent bag.

let context = null;

function audio() {
  if (!context) {
    const AudioContextClass = window.AudioContext || window.webkitAudioContext;
    if (!AudioContextClass) return null;
    try {
      context = new AudioContextClass();
    } catch {
      return null;
    }
  }
  if (context.state === "suspended") context.resume().catch(() => {});
  return context;
}

/** Browsers start audio only after a user gesture: call this on the first key or touch. */
export function unlockAudio() {
  audio();
}

// [frequency Hz, start s, duration s] per note
const SOUNDS = {
  ok: { wave: "square", gain: 0.25, notes: [[1047, 0, 0.07], [1568, 0.08, 0.1]] },
  warn: { wave: "triangle", gain: 0.4, notes: [[523, 0, 0.12], [523, 0.18, 0.12]] },
  error: { wave: "sawtooth", gain: 0.35, notes: [[185, 0, 0.16], [185, 0.22, 0.16], [185, 0.44, 0.3]] },
  queued: { wave: "triangle", gain: 0.4, notes: [[660, 0, 0.09]] },
  complete: {
    wave: "square", gain: 0.25,
    notes: [[523, 0, 0.1], [659, 0.11, 0.1], [784, 0.22, 0.1], [1047, 0.33, 0.35]],
  },
  undo: { wave: "triangle", gain: 0.4, notes: [[784, 0, 0.08], [523, 0.1, 0.12]] },
};

const VIBRATIONS = {
  ok: [40],
  warn: [80, 60, 80],
  error: [250, 100, 250, 100, 400],
  queued: [30],
  complete: [100, 50, 100, 50, 400],
  undo: [60],
};

function play(kind) {
  const sound = SOUNDS[kind];
  const ctx = audio();
  if (!sound || !ctx) return;
  const now = ctx.currentTime;
  for (const [frequency, start, duration] of sound.notes) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = sound.wave;
    osc.frequency.value = frequency;
    // short ramps: no clicks, full loudness in between
    gain.gain.setValueAtTime(0.0001, now + start);
    gain.gain.exponentialRampToValueAtTime(sound.gain, now + start + 0.01);
    gain.gain.setValueAtTime(sound.gain, now + start + duration - 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + start + duration);
    osc.connect(gain).connect(ctx.destination);
    osc.start(now + start);
    osc.stop(now + start + duration + 0.02);
  }
}

function vibrate(kind) {
  if (navigator.vibrate && VIBRATIONS[kind]) {
    try {
      navigator.vibrate(VIBRATIONS[kind]);
    } catch {
      // not allowed here: the sound and the flash remain
    }
  }
}

function flash(kind) {
  const el = document.getElementById("flash");
  if (!el) return;
  if (!el.dataset.bound) {
    el.dataset.bound = "true";
    el.addEventListener("animationend", () => el.classList.remove("go"));
  }
  el.dataset.kind = kind;
  el.classList.remove("go");
  void el.offsetWidth; // restart the animation
  el.classList.add("go");
}

/** Sound, vibration and flash of `kind`: ok | warn | error | queued | complete | undo. */
export function signal(kind) {
  play(kind);
  vibrate(kind);
  flash(kind);
  document.body.dataset.lastSignal = kind; // what the last feedback was (for tests and support)
  document.body.dataset.signals = String(Number(document.body.dataset.signals || 0) + 1);
}
