/// The chat page served at `/`: plain HTML and JavaScript, nothing fetched from elsewhere. It
/// keeps the conversation, streams each reply from /v1/chat/completions and shows it as it
/// arrives. `/?message=TEXT` sends TEXT once the page has loaded (as if typed and sent), and
/// `&key=KEY` fills the API key.
enum ChatPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cortex chat</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 48rem; margin: 0 auto; padding: 1rem; background: #fafafa; color: #222; }
  header { display: flex; gap: 1rem; align-items: baseline; }
  #log { display: flex; flex-direction: column; gap: .5rem; margin: 1rem 0; }
  .message { padding: .6rem .8rem; border-radius: .5rem; white-space: pre-wrap; }
  .user { background: #dbeafe; align-self: flex-end; }
  .assistant { background: #fff; border: 1px solid #ddd; align-self: flex-start; }
  .error { background: #fee2e2; }
  form { display: flex; gap: .5rem; }
  textarea { flex: 1; min-height: 3rem; font: inherit; }
  #status { color: #666; font-size: .9rem; }
</style>
</head>
<body>
<header><h1>Cortex</h1><span id="model"></span></header>
<label>API key <input id="key" type="password" autocomplete="off"></label>
<div id="log"></div>
<form id="form">
  <textarea id="input" placeholder="Send a message"></textarea>
  <button id="send" type="submit">Send</button>
</form>
<div id="status"></div>
<script>
const log = document.getElementById("log"), input = document.getElementById("input"), form = document.getElementById("form");
const keyField = document.getElementById("key"), statusLine = document.getElementById("status");
const history = [];
let model = null;

function headers() {
  const h = { "Content-Type": "application/json" };
  if (keyField.value) h["Authorization"] = "Bearer " + keyField.value;
  return h;
}

function add(role, text) {
  const div = document.createElement("div");
  div.className = "message " + role;
  div.textContent = text;
  log.appendChild(div);
  return div;
}

async function loadModel() {
  const response = await fetch("/v1/models", { headers: headers() });
  if (!response.ok) return;
  const list = await response.json();
  model = list.data[0].id;
  document.getElementById("model").textContent = model;
}

async function send(text) {
  history.push({ role: "user", content: text });
  add("user", text);
  const reply = add("assistant", "");
  reply.dataset.state = "streaming";
  statusLine.textContent = "generating...";
  try {
    if (!model) await loadModel();
    const response = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(),
      body: JSON.stringify({ model: model, messages: history, stream: true, max_tokens: 128, temperature: 0 })
    });
    if (!response.ok) {
      const body = await response.json();
      throw new Error(body.error ? body.error.message : response.statusText);
    }
    const reader = response.body.getReader(), decoder = new TextDecoder();
    let buffer = "", answer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const line = buffer.slice(0, end).trim();
        buffer = buffer.slice(end + 2);
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        for (const choice of chunk.choices) {
          if (choice.delta && choice.delta.content) { answer += choice.delta.content; reply.textContent = answer; }
        }
      }
    }
    history.push({ role: "assistant", content: answer });
    reply.dataset.state = "done";
    statusLine.textContent = "";
  } catch (error) {
    reply.classList.add("error");
    reply.textContent = "Error: " + error.message;
    reply.dataset.state = "failed";
    statusLine.textContent = "";
  }
}

form.addEventListener("submit", event => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  send(text);
});
input.addEventListener("keydown", event => {
  if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
});

const parameters = new URLSearchParams(location.search);
if (parameters.get("key")) keyField.value = parameters.get("key");
loadModel().then(() => {
  const message = parameters.get("message");
  if (message) { input.value = message; form.requestSubmit(); }
});
</script>
</body>
</html>
"""#
}
