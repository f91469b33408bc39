// iso_8583 (npm) on the messages `peers-bench emit` wrote: time per decode and encode in Node's
// own loop (median of five rounds), and which hostile variants it refuses. Binary bitmap only:
// its hex-ASCII bitmap mode always reads 32 characters, so it cannot read iso87-ascii messages.
//
// node peers.js MSG_DIR   -> TIME/CHECK lines as the Rust program prints them
'use strict';
const fs = require('fs');
const path = require('path');
const Iso = require('iso_8583');
const version = require('iso_8583/package.json').version;

const ROUND_NS = BigInt(Number(process.env.PEERS_MS || '300') * 1e6);

function timeNs(f) {
  let batch = 1;
  for (;;) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) f();
    if (process.hrtime.bigint() - t > 10000000n) break;
    batch *= 2;
  }
  const rounds = [];
  for (let r = 0; r < 5; r++) {
    const t = process.hrtime.bigint();
    let n = 0;
    while (process.hrtime.bigint() - t < ROUND_NS) {
      for (let i = 0; i < batch; i++) f();
      n += batch;
    }
    rounds.push(Number(process.hrtime.bigint() - t) / n);
  }
  rounds.sort((a, b) => a - b);
  return rounds[2];
}

const name = 'iso87-binary';
const dir = process.argv[2];
const wire = Buffer.from(fs.readFileSync(path.join(dir, name + '.hex'), 'utf8').trim(), 'hex');
const config = { lenHeader: false };
const decode = (buf) => new Iso().getIsoJSON(buf, config);

const doc = decode(wire);
if (doc.error) throw new Error('iso_8583 cannot decode the message: ' + doc.error);
// DE 55 (binary, LLL) comes back as a UTF-8 string of raw bytes, lossy; to encode, DE 55 is given
// as its hex text instead (its encoder writes variable fields as text), so the output differs
// from the input: say so.
const toEncode = Object.assign({}, doc);
toEncode['55'] = wire.subarray(wire.length - 65).toString('hex').toUpperCase();
const formats = { '55': { ContentType: 'ans', Label: 'ICC data', LenType: 'lllvar', MaxLen: 999 } };
const encode = () => new Iso(toEncode, formats).getRawMessage();
const out = encode();
if (out.error) throw new Error('iso_8583 cannot encode the message: ' + out.error);
const same = Buffer.compare(out, wire) === 0
  ? 're-encodes byte-identical'
  : `RE-ENCODES DIFFERENT BYTES (${out.length} vs ${wire.length}: 128-bit bitmap always, DE 55 as hex text)`;

let ns = timeNs(() => decode(wire));
console.log(`TIME\tiso_8583 ${version}\t${name}\tdecode\t${ns.toFixed(1)}\tBuffer -> object of str (Node loop); DE 55 lossy`);
ns = timeNs(encode);
console.log(`TIME\tiso_8583 ${version}\t${name}\tencode\t${ns.toFixed(1)}\t${same}`);
// validateMessage() refuses DE 55 as decoded (raw bytes are not 'ans'), so it validates the
// decoded message without DE 55.
const validate = (d) => { const v = Object.assign({}, d); delete v['55']; return new Iso(v).validateMessage(); };
if (validate(doc) !== true) throw new Error('iso_8583 refuses the valid message');
ns = timeNs(() => validate(decode(wire)));
console.log(`TIME\tiso_8583 ${version}\t${name}\tdecode+validate\t${ns.toFixed(1)}\tgetIsoJSON, then validateMessage() without DE 55`);

for (const line of fs.readFileSync(path.join(dir, name + '.cases'), 'utf8').trim().split('\n')) {
  const [c, hex] = line.split(' ');
  for (const [tag, run] of [
    ['', (b) => decode(b)],
    ['+validate', (b) => { const d = decode(b); return d.error ? d : (validate(d) === true ? d : { error: 'invalid' }); }],
  ]) {
    let verdict;
    try {
      const r = run(Buffer.from(hex, 'hex'));
      verdict = r && r.error ? 'rejected' : 'accepted';
    } catch (e) {
      verdict = 'threw ' + e.constructor.name;
    }
    console.log(`CHECK\tiso_8583 ${version}${tag}\t${name}\t${c}\t${verdict}`);
  }
}
