'use strict';
// ../protocol.json, the host ↔ sandbox contract shared with the host and the Python launcher, and the
// one way to fill its message templates (the same "{name}" placeholders Python's str.format fills).
const fs = require('fs');
const path = require('path');

const PROTOCOL = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'protocol.json'), 'utf8'));

/** message('result_too_large', { max: 5 }) → "main() returned a value larger than 5 bytes as JSON". */
function message(name, values = {}) {
  return PROTOCOL.messages[name].replace(/\{(\w+)\}/g, (whole, key) =>
    key in values ? String(values[key]) : whole,
  );
}

module.exports = { PROTOCOL, message };
