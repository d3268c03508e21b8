// Test oracle: runs JupyterLab's own websocket (de)serializer (@jupyterlab/services,
// lib/kernel/serialize.js) on jobs read as JSON from stdin; prints the results as JSON.
// Binary data travels as base64. Used by tests/test_websocket.py.
'use strict';
const { serialize, deserialize } = require('@jupyterlab/services/lib/kernel/serialize');

function fromBase64(text) {
  const bytes = Buffer.from(text, 'base64');
  // a fresh ArrayBuffer holding exactly these bytes, as a websocket hands one over
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
}

function toBase64(data) {
  const view = ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data);
  return Buffer.from(view).toString('base64');
}

function run(job) {
  if (job.op === 'serialize') {
    const msg = { ...job.msg, buffers: (job.msg.buffers || []).map(fromBase64) };
    const out = serialize(msg, job.protocol);
    return typeof out === 'string' ? { text: out } : { binary: toBase64(out) };
  }
  const data = job.text !== undefined ? job.text : fromBase64(job.binary);
  const msg = deserialize(data, job.protocol);
  return { msg: { ...msg, buffers: (msg.buffers || []).map(toBase64) } };
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', chunk => (input += chunk));
process.stdin.on('end', () => {
  const results = JSON.parse(input).map(job => {
    try {
      return run(job);
    } catch (err) {
      return { error: String(err) };
    }
  });
  process.stdout.write(JSON.stringify(results));
});
