// Node.js: rows of a CSV of source lines as objects, an index word -> rows, then four
// rounds of 300k Zipf-skewed lookups, a JSON round trip of a third of the rows and a sort
// (by text, file, length, text).
// A garbage-collected heap: V8's young generation is copied on every scavenge.
"use strict";
const fs = require("fs");
const text = fs.readFileSync(process.argv[2], "utf8");
const limit = +(process.argv[3] || Infinity);     // rows to take
const rows = [];
for (const line of text.split("\n").slice(1, limit + 1)) {
  if (!line) continue;
  const i = line.indexOf(","), j = line.indexOf(",", i + 1);
  rows.push({ file: line.slice(0, i), lineno: +line.slice(i + 1, j), text: line.slice(j + 1) });
}
const byWord = new Map();
for (const r of rows) {
  for (const w of r.text.match(/[A-Za-z_][A-Za-z0-9_]{2,}/g) || []) {
    let a = byWord.get(w);
    if (!a) byWord.set(w, (a = []));
    a.push(r);
  }
}
const words = [...byWord.keys()].sort((a, b) => byWord.get(b).length - byWord.get(a).length);
const orders = [
  (a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0),
  (a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.lineno - b.lineno),
  (a, b) => a.text.length - b.text.length,
  (a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0),
];
let seed = 1, hits = 0, copied = 0;
for (let round = 0; round < orders.length; round++) {
  for (let k = 0; k < 300000; k++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const u = (seed + 1) / 2147483648;
    const idx = Math.min(words.length - 1, Math.floor(Math.pow(u, -1 / 1.1)) - 1);
    hits += byWord.get(words[idx]).length;
  }
  const third = rows.length / 3;
  copied += JSON.parse(JSON.stringify(rows.slice(round % 3 * third, (round % 3 + 1) * third))).length;
  rows.sort(orders[round]);
}
console.log(rows.length, byWord.size, hits, copied);
