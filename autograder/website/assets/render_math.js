// Renders LaTeX with KaTeX for the book's build (autograder/site_math.py).
// Usage: node render_math.js /path/to/katex.min.js
// Reads one JSON request per line on stdin: {"latex": "...", "options": {...}}
// and writes one JSON answer per line on stdout: {"html": "..."} or {"error": "..."}.
"use strict";
const katex = require(process.argv[2]);
const readline = require("readline");

const lines = readline.createInterface({ input: process.stdin, terminal: false });
lines.on("line", (line) => {
  let answer;
  try {
    const request = JSON.parse(line);
    answer = { html: katex.renderToString(request.latex, request.options || {}) };
  } catch (err) {
    answer = { error: String(err && err.message ? err.message : err) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
