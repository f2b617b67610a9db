// The capture page's logic, as an ES module an integrator can embed (docs/capture.md):
//
//   import { startCapture } from "https://APPLIANCE/capture/static/capture.js";
//   const verdict = await startCapture({ root: element, token, base: "https://APPLIANCE" });
//
// It opens the camera, checks the light and that something fills the face oval, records the
// session's schedule with MediaRecorder while it shows one prompt at a time, uploads the recording
// with its progress and a report of the camera (label, settings, the timing of the frames it saw),
// then waits for the verdict and returns it. Nothing is fetched from anywhere but `base`.

const CHECK_EVERY_MS = 100;
const CHECKS_IN_A_ROW = 5;
const POLL_EVERY_MS = 100;
const LIGHT = { darkest: 50, brightest: 210, detail: 12 };

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function fetchJson(url, options) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.error_message || `${response.status} ${response.statusText}`);
    error.code = body.error_code;
    throw error;
  }
  return body;
}

// The view: a mirrored preview inside a face oval, one line of instructions, a progress bar.
function view(root) {
  root.replaceChildren();
  const stage = element("div", "capture-stage");
  const video = element("video", "capture-video");
  Object.assign(video, { muted: true, playsInline: true, autoplay: true });
  const oval = element("div", "capture-oval");
  stage.append(video, oval);
  const prompt = element("p", "capture-prompt");
  prompt.setAttribute("role", "status");
  prompt.setAttribute("aria-live", "assertive");
  const progress = element("progress", "capture-progress");
  progress.max = 1;
  progress.value = 0;
  progress.hidden = true;
  const verdict = element("p", "capture-verdict");
  verdict.hidden = true;
  root.append(stage, prompt, progress, verdict);
  return {
    video,
    oval,
    say(text) {
      prompt.textContent = text;
    },
    progress(fraction) {
      progress.hidden = false;
      progress.value = fraction;
    },
    verdict(text, kind) {
      progress.hidden = true;
      stage.hidden = true; // the camera is off by now
      prompt.textContent = "";
      verdict.hidden = false;
      verdict.dataset.kind = kind;
      verdict.textContent = text;
    },
  };
}

// Light and framing: the oval's centre neither too dark nor too bright, and with detail in it (a
// face, not a wall or a covered lens), for CHECKS_IN_A_ROW checks in a row.
function lightAndFraming(video) {
  const canvas = document.createElement("canvas");
  canvas.width = 48;
  canvas.height = 64;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  return () => {
    const w = video.videoWidth;
    const h = video.videoHeight;
    if (!w || !h) return "Starting the camera";
    const side = Math.min(w, h) * 0.6;
    context.drawImage(video, (w - side * 0.75) / 2, (h - side) / 2, side * 0.75, side, 0, 0, 48, 64);
    const pixels = context.getImageData(0, 0, 48, 64).data;
    let sum = 0;
    let squares = 0;
    const count = pixels.length / 4;
    for (let i = 0; i < pixels.length; i += 4) {
      const luma = 0.299 * pixels[i] + 0.587 * pixels[i + 1] + 0.114 * pixels[i + 2];
      sum += luma;
      squares += luma * luma;
    }
    const mean = sum / count;
    const deviation = Math.sqrt(Math.max(0, squares / count - mean * mean));
    if (mean < LIGHT.darkest) return "More light, please";
    if (mean > LIGHT.brightest) return "Too bright: move away from the light";
    if (deviation < LIGHT.detail) return "Put your face in the oval";
    return null;
  };
}

async function waitForLightAndFraming(ui) {
  const check = lightAndFraming(ui.video);
  let good = 0;
  while (good < CHECKS_IN_A_ROW) {
    const problem = check();
    good = problem ? 0 : good + 1;
    ui.oval.dataset.ok = problem ? "no" : "yes";
    ui.say(problem || "Hold still");
    await sleep(CHECK_EVERY_MS);
  }
}

// The timing of the frames the page saw, for the report: a real camera's intervals vary a little.
function frameTimer(video) {
  const intervals = [];
  let last = null;
  let running = true;
  const onFrame = (now) => {
    if (last !== null) intervals.push(Math.round((now - last) * 1000) / 1000);
    last = now;
    if (running) video.requestVideoFrameCallback(onFrame);
  };
  if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) video.requestVideoFrameCallback(onFrame);
  return {
    stop() {
      running = false;
      return intervals;
    },
  };
}

function recorderFor(stream) {
  const types = ["video/webm;codecs=vp8", "video/webm;codecs=vp9", "video/webm", "video/mp4"];
  const mimeType = types.find((type) => window.MediaRecorder && MediaRecorder.isTypeSupported(type));
  return new MediaRecorder(stream, mimeType ? { mimeType, videoBitsPerSecond: 2_500_000 } : undefined);
}

// Record for the session's length, showing each prompt at its time from the start of the recording.
async function record(ui, stream, session) {
  const recorder = recorderFor(stream);
  const chunks = [];
  recorder.ondataavailable = (event) => event.data.size && chunks.push(event.data);
  const stopped = new Promise((resolve) => (recorder.onstop = resolve));
  const started = new Promise((resolve) => (recorder.onstart = resolve));
  const timer = frameTimer(ui.video);
  recorder.start(250);
  await started;
  const t0 = performance.now();
  const shown = [];
  ui.say("Look at the camera");
  for (const step of session.steps) {
    await sleep(Math.max(0, step.start_s * 1000 - (performance.now() - t0)));
    shown.push(Math.round(performance.now() - t0));
    ui.say(step.prompt);
    await sleep(Math.max(0, step.end_s * 1000 - (performance.now() - t0)));
    ui.say("Look at the camera");
  }
  performance.mark("capture:last-prompt-end"); // bench/capture_latency.py measures from here to the verdict
  await sleep(Math.max(0, session.recording_s * 1000 - (performance.now() - t0)));
  recorder.stop();
  await stopped;
  ui.say("Sending");
  return { blob: new Blob(chunks, { type: recorder.mimeType }), intervals: timer.stop(), shown };
}

function upload(url, form, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", url);
    request.responseType = "json";
    request.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    request.onload = () => {
      const body = request.response || {};
      if (request.status >= 200 && request.status < 300) resolve(body);
      else reject(Object.assign(new Error(body.error_message || `${request.status}`), { code: body.error_code }));
    };
    request.onerror = () => reject(new Error("the appliance did not answer"));
    request.send(form);
  });
}

async function waitForVerdict(url) {
  for (;;) {
    const verdict = await fetchJson(url);
    if (verdict.state === "finished") return verdict;
    await sleep(POLL_EVERY_MS);
  }
}

function explain(verdict, session) {
  if (verdict.resolution === "SUCCESS") return ["Done: thank you.", "success"];
  if (verdict.resolution === "DECLINED" && verdict.failed_step !== null && verdict.failed_step !== undefined) {
    const step = session.steps[verdict.failed_step];
    return [`Not accepted: step ${verdict.failed_step + 1} (${step ? step.prompt : verdict.failed_gesture}) was not seen.`, "declined"];
  }
  if (verdict.resolution === "OPERATOR_REQUIRED") return ["Thank you: a member of staff will check the recording.", "operator"];
  return ["Not accepted.", "declined"];
}

/**
 * Run one capture session in `root` and resolve with the verdict
 * ({resolution, failed_step, failed_gesture, operator_reasons, flags}).
 * `token`: the session's token (from its capture address); `base`: the appliance's origin.
 */
export async function startCapture({ root, token, base = "", onVerdict } = {}) {
  const ui = view(root);
  const address = `${base}/capture/${encodeURIComponent(token)}`;
  let stream;
  try {
    const session = await fetchJson(`${address}/session`);
    if (session.state !== "open") throw new Error(`this capture session is ${session.state}`);
    ui.say("Allow the camera, please");
    stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 1280 }, height: { ideal: 720 }, facingMode: "user" },
      audio: false,
    });
    ui.video.srcObject = stream;
    await waitForLightAndFraming(ui);
    const track = stream.getVideoTracks()[0];
    const { blob, intervals, shown } = await record(ui, stream, session);
    const report = {
      camera_label: track.label,
      settings: track.getSettings(),
      frame_intervals_ms: intervals,
      prompts_shown_ms: shown,
      user_agent: navigator.userAgent,
    };
    const form = new FormData();
    form.append("payload", JSON.stringify({ report }));
    form.append("recording", blob, blob.type.includes("mp4") ? "capture.mp4" : "capture.webm");
    await upload(`${address}/recording`, form, (fraction) => ui.progress(fraction));
    ui.say("Checking");
    const verdict = await waitForVerdict(`${address}/verdict`);
    const [text, kind] = explain(verdict, session);
    ui.verdict(text, kind);
    performance.mark("capture:verdict");
    if (onVerdict) onVerdict(verdict);
    return verdict;
  } catch (error) {
    ui.verdict(`The capture stopped: ${error.message}`, "error");
    throw error;
  } finally {
    if (stream) stream.getTracks().forEach((t) => t.stop());
  }
}
