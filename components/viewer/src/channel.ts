// The full-resolution channel: a zero-height Streamlit component drawn under the reading
// viewer, inside an st.fragment (pages/viewer_component.py). The viewer asks it for the
// full-resolution images of its case (a postMessage between the two frames: no rerun of
// the page); the channel sets its own value, which reruns only its fragment; Python
// answers with every image ready (index + bytes: see mcalc/present/fullres.py; each
// entry with a `url` of its own: the viewer fetches those itself, in parallel; else their
// bytes in the answer); the channel hands it to the viewer (the bytes transferred, not
// copied) and at once asks for the rest, if any.
interface Ask {
  type: "mcalc:fullres-ask";
  case: string;
  keys: string[];
  inline?: boolean; // the bytes in the answer, not by URL (a fetch failed)
}
interface Entry {
  key: string;
  url?: string;
}

function send(type: string, data: Record<string, unknown>): void {
  window.parent.postMessage({ isStreamlitMessage: true, type, ...data }, "*");
}

let viewer: MessageEventSource | null = null;
let wanted: { case: string; keys: string[]; inline: boolean } | null = null;
let seq = 0;

function ask(): void {
  if (!wanted?.keys.length) return;
  seq += 1;
  send("streamlit:setComponentValue", {
    value: { case: wanted.case, keys: wanted.keys, inline: wanted.inline, seq: `${Date.now()}-${seq}` },
    dataType: "json",
  });
}

function onAnswer(caseKey: string, index: Entry[], data: Uint8Array): void {
  if (!viewer || !wanted || wanted.case !== caseKey) return;
  const keys = index.map((e) => e.key).filter((k) => wanted?.keys.includes(k));
  if (!keys.length) return; // a repeated render of an answer already handed on
  // Ask for the rest first: the next images are on their way while the viewer takes these.
  wanted.keys = wanted.keys.filter((k) => !keys.includes(k));
  ask();
  // Transfer the buffer when the view covers it all (no copy); else copy this part.
  const own = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
  const bytes = own ? data : data.slice();
  (viewer as Window).postMessage(
    { type: "mcalc:fullres-answer", case: caseKey, index, data: bytes },
    { targetOrigin: "*", transfer: [bytes.buffer as ArrayBuffer] },
  );
}

window.addEventListener("message", (ev: MessageEvent) => {
  const d = ev.data;
  if (d?.type === "mcalc:fullres-ask") {
    const a = d as Ask;
    viewer = ev.source;
    wanted = { case: a.case, keys: [...a.keys], inline: !!a.inline };
    ask();
  } else if (d?.type === "streamlit:render") {
    const a = d.args as { case_key: string; fullres?: Entry[]; fullres_data?: Uint8Array };
    const data = a.fullres_data ?? new Uint8Array(0);
    if (a.fullres?.length && (data.byteLength || a.fullres.every((e) => e.url))) {
      onAnswer(a.case_key, a.fullres, data);
    }
  }
});
send("streamlit:componentReady", { apiVersion: 1 });
send("streamlit:setFrameHeight", { height: 0 });
// To the viewer (a sibling frame): a request sent before this frame listened goes again.
for (let i = 0; i < window.parent.frames.length; i++) {
  const f = window.parent.frames[i];
  if (f !== window) f.postMessage({ type: "mcalc:fullres-hello" }, "*");
}
